/**
 * Flags and arguments that several commands share, built in one place so that their names,
 * letters and help texts cannot drift apart.
 */
import { Args, Flags } from "@oclif/core";
import { DEFAULT_SERVER } from "../util/config.js";

/** The `<group>` argument of the user commands that act on one group. */
export const groupArg = () => Args.string({ description: "group name", required: true });

/** `--quiet`: a server logs each request unless given. */
export const quietFlag = () => Flags.boolean({ char: "q", description: "do not log each request" });

/** `--data-dir`: where a server keeps its state (SQLite files, its key). */
export const dataDirFlag = (what = "directory for the group databases and the server's key") =>
  Flags.string({ char: "d", description: `${what} [default: $GM_HOME/data]` });

/** `--bind`: the endpoint a directory listens on. */
export const directoryBindFlag = (description: string) =>
  Flags.string({ char: "b", description, default: DEFAULT_SERVER });

/** `--accept-loss`: serve a group whose store lost acknowledged messages (`gm group`, `gm up`). */
export const acceptLossFlag = () =>
  Flags.boolean({
    description:
      "serve a group whose store lost acknowledged messages (or was lost) instead of refusing it: numbering continues after the last acknowledged seq, the lost seqs stay a gap",
    default: false,
  });

/** `arg` as a POSIX shell word: as it is if it is plain, else in single quotes. */
export function shellWord(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * What a refused store tells the operator to run (sqlite.ts's `commandLines`): this very command
 * (`bin`, the command's words, its arguments as given) with --accept-loss, and `gm group --check`
 * for the group and `dataDir`.
 */
export function recoveryCommands(
  bin: string,
  command: readonly string[],
  argv: readonly string[],
  dataDir: string,
): (name: string) => { acceptLoss: string; check: string } {
  const again = [bin, ...command, ...argv, "--accept-loss"].map(shellWord).join(" ");
  return (name) => ({
    acceptLoss: again,
    check: [bin, "group", "--check", "--name", name, "--data-dir", dataDir].map(shellWord).join(" "),
  });
}

/** `--max-connections`: the cap on the TCP connections a server process holds (connections.ts). */
export const maxConnectionsFlag = () =>
  Flags.integer({
    description:
      "most TCP connections this process holds at once, on all its ports; more are refused at the handshake [default: half of the open-files limit left after 128, at most 4096]",
    min: 1,
  });
