import { printable } from "./printable.js";

/** A line-oriented logger: servers print one line per event to stdout. */
export type Logger = (line: string) => void;

export const silent: Logger = () => {};

/**
 * Prefixes each line with an ISO time, as a server log should. Lines quote what clients sent (a
 * user, an address, an error message naming a field), so each is made printable first: a line
 * feed, carriage return or escape sequence in it is written as a visible escape, and no client can
 * forge a line of its own or rewrite the operator's terminal.
 */
export function stampedLogger(write: (text: string) => void = (t) => process.stdout.write(t)): Logger {
  return (line) => write(`${new Date().toISOString()} ${printable(line)}\n`);
}
