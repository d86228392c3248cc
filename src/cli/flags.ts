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
