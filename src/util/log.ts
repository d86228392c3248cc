/** A line-oriented logger: servers print one line per event to stdout. */
export type Logger = (line: string) => void;

export const silent: Logger = () => {};

/** Prefixes each line with an ISO time, as a server log should. */
export function stampedLogger(write: (text: string) => void = (t) => process.stdout.write(t)): Logger {
  return (line) => write(`${new Date().toISOString()} ${line}\n`);
}
