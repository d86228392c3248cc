/**
 * Defaults that the servers and the user side share: where the message server is and where gm
 * keeps its state. Environment variables override them; flags override those.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../protocol/errors.js";

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

/** How long a client waits for each try of a request, and how many tries it makes. */
export interface RequestPolicy {
  readonly timeoutMs?: number;
  readonly tries?: number;
}

/**
 * GM_REQUEST_TIMEOUT_MS (per try; default 2500) and GM_REQUEST_TRIES (default 3), for scripts and
 * tests that would rather learn sooner that a peer is down. Throws a UsageError naming the
 * variable when a value is not a whole number in range.
 */
export function requestPolicy(env: NodeJS.ProcessEnv = process.env): RequestPolicy {
  const read = (key: string, min: number, max: number): number | undefined => {
    const text = env[key];
    if (text === undefined || text === "") return undefined;
    const n = Number(text);
    if (!/^\d+$/.test(text.trim()) || n < min || n > max) {
      throw new UsageError(`${key} must be a whole number from ${min} to ${max}, not "${text}"`);
    }
    return n;
  };
  const timeoutMs = read("GM_REQUEST_TIMEOUT_MS", 50, 600_000);
  const tries = read("GM_REQUEST_TRIES", 1, 100);
  return { ...(timeoutMs !== undefined && { timeoutMs }), ...(tries !== undefined && { tries }) };
}
