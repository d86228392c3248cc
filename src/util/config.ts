/**
 * Defaults that the servers and the user side share: where the message server is and where gm
 * keeps its state. Environment variables override them; flags override those.
 */
import { homedir } from "node:os";
import { join } from "node:path";

/** Where the directory is, unless a flag, GM_SERVER or the profile says otherwise. */
export const DEFAULT_SERVER = "tcp://127.0.0.1:5555";

/** The state directory: GM_HOME, else $XDG_STATE_HOME/gm, else ~/.local/state/gm. */
export function gmHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GM_HOME) return env.GM_HOME;
  return join(env.XDG_STATE_HOME || join(homedir(), ".local", "state"), "gm");
}

/** Where group servers keep their SQLite files unless --data-dir says otherwise. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(gmHome(env), "data");
}
