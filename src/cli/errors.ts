import type { Command } from "@oclif/core";
import chalk from "chalk";

/** Exit codes: 1 the request failed or was refused; 2 bad usage; 3 a peer did not answer. */
export const Exit = { Failed: 1, Usage: 2, Unreachable: 3 } as const;

const USAGE_ERRORS = new Set(["EndpointError", "TimestampError"]);

/**
 * Prints any error from the library as one unwrapped line on stderr (with a `code:` hint when the
 * server sent one) and exits with a code that says what kind of failure it was. DEBUG=1 adds the stack.
 */
export function fail(command: Command, err: unknown): never {
  const e = err as Error & { code?: unknown };
  if (process.env.DEBUG && e instanceof Error && e.stack) command.logToStderr(e.stack);
  const exit = e?.name === "TimeoutError" ? Exit.Unreachable : USAGE_ERRORS.has(e?.name) ? Exit.Usage : Exit.Failed;
  const message = e instanceof Error ? e.message : String(err);
  const code = typeof e?.code === "string" && /^[A-Z_]+$/.test(e.code) ? chalk.dim(` (${e.code})`) : "";
  command.logToStderr(`${chalk.red("Error:")} ${message}${code}`);
  return command.exit(exit);
}
