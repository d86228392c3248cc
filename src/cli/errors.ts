import type { Command } from "@oclif/core";
import chalk from "chalk";
import { ErrorCode } from "../protocol/constants.js";
import { GmError, isWireCode, TimeoutError, UsageError } from "../protocol/errors.js";
import { printable } from "../util/printable.js";

/** Exit codes: 1 the request failed or was refused; 2 bad usage; 3 a peer did not answer. */
export const Exit = { Failed: 1, Usage: 2, Unreachable: 3 } as const;

/** The exit code for a failure, by its class (src/protocol/errors.ts). */
export function exitCode(err: unknown): number {
  if (err instanceof TimeoutError) return Exit.Unreachable;
  if (err instanceof UsageError) return Exit.Usage;
  return Exit.Failed;
}

/** The protocol code to show after the message (a server's, or the same check made locally), if any. */
function codeHint(err: unknown): string | undefined {
  if (err instanceof GmError) return isWireCode(err.code) ? err.code : undefined;
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && /^[A-Z_]+$/.test(code) ? code : undefined;
}

/**
 * Prints any error from the library as one unwrapped line on stderr (with a `code:` hint when the
 * server sent one) and exits with a code that says what kind of failure it was. DEBUG=1 adds the stack.
 * oclif's own errors (from `this.error()` or `this.exit()`) already carry their exit code: rethrown.
 */
export function fail(command: Command, err: unknown): never {
  if (err instanceof Error && "oclif" in err) throw err;
  if (process.env.DEBUG && err instanceof Error && err.stack) command.logToStderr(err.stack);
  const code = codeHint(err);
  const message = failureText(err, command.id);
  command.logToStderr(
    `${chalk.red("Error:")} ${printable(message)}${code === undefined ? "" : chalk.dim(` (${code})`)}`,
  );
  return command.exit(exitCode(err));
}

/**
 * What the CLI says about a failure of command `commandId` (e.g. "user:send"): the error's own
 * message, except for a `300 STORAGE_FULL` that outlasted every try (the client waited 1 s, then
 * 2 s), which says in words what it means for the user, then what the server said (it names the
 * group's file).
 */
export function failureText(err: unknown, commandId?: string): string {
  if (err instanceof GmError && err.code === ErrorCode.StorageFull) {
    const lost = commandId === "user:send" ? "the message was not stored" : "nothing was changed";
    return `the group server's disk is full: ${lost}; try again once it has room (the server said: ${err.message})`;
  }
  return err instanceof Error ? err.message : String(err);
}
