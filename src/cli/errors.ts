import type { Command } from "@oclif/core";
import chalk from "chalk";
import { GmError, isWireCode, TimeoutError, UsageError } from "../protocol/errors.js";
import { failureText } from "../user/format.js";
import { printable } from "../util/printable.js";

export { failureText };

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
