import type { Command } from "@oclif/core";

/** Exit codes: 1 the request failed or was refused; 2 bad usage (oclif); 3 a peer did not answer. */
export const Exit = { Failed: 1, Usage: 2, Unreachable: 3 } as const;

/** Turns any error from the library into one clear line and an exit code. */
export function fail(command: Command, err: unknown): never {
  const e = err as Error & { code?: unknown };
  if (process.env.DEBUG && e instanceof Error && e.stack) command.logToStderr(e.stack);
  const exit =
    e?.name === "TimeoutError"
      ? Exit.Unreachable
      : e?.name === "EndpointError" || e?.name === "TimestampError"
        ? Exit.Usage
        : Exit.Failed;
  const message = e instanceof Error ? e.message : String(err);
  return command.error(message, { exit, ...(typeof e?.code === "string" && { code: e.code }) });
}
