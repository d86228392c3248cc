/**
 * An exclusive lock between processes, as a file beside the one it guards (`<file>.lock`): Node
 * has no flock(2), so the lock is a file that only one process can create.
 *
 * - Taking it: the holder's line (`<pid> <host> <nonce>`) is written to a file of its own, then
 *   hard-linked to `<file>.lock`; link(2) fails if the name exists, so exactly one process gets
 *   it, and nobody ever sees the lock without its holder's line.
 * - Releasing it: the holder removes it (only if it still holds its own line).
 * - A stale lock: one whose holder is a process of this host that no longer exists is broken, so a
 *   gm killed while holding it (kill -9, a power cut) does not block the profile. Breaking is
 *   itself guarded by a lock named after the stale lock's nonce (`<file>.lock.break-<nonce>`):
 *   the one process that creates it checks that the lock still holds that same line and only then
 *   removes it, so two processes breaking at once never remove a lock someone has just taken.
 *   (That guard, if its own holder died, is broken the same way, one level down.)
 * - A holder on another host, or a live process (perhaps a recycled pid), is waited for, up to a
 *   deadline; then a LockError names the file to remove by hand.
 *
 * Waiting is synchronous (the guarded changes are small reads and writes of one file): the lock is
 * held for about a millisecond, and a waiter sleeps between tries without spinning.
 */
import { randomBytes } from "node:crypto";
import { linkSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { LockError } from "../protocol/errors.js";

export interface LockOptions {
  /** Give up after waiting this long for a live holder (ms). */
  readonly waitMs?: number;
}

/** How long to wait for a live holder before giving up: far beyond any real holder's millisecond. */
export const LOCK_WAIT_MS = 10_000;
/** How deep breaking may nest (a breaker that died while breaking, and so on). */
const BREAK_DEPTH_MAX = 4;

const sleeper = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number): void => {
  Atomics.wait(sleeper, 0, 0, ms);
};

/** Locks this process holds now, by lock file: taking one twice would wait for itself. */
const held = new Set<string>();

interface Holder {
  readonly pid: number;
  readonly host: string;
}

function parseHolder(line: string): Holder | undefined {
  const m = /^(\d+) (\S+) ([0-9a-f]+)\n?$/.exec(line);
  return m === null ? undefined : { pid: Number(m[1]), host: m[2] as string };
}

/** Whether a process of this host with that pid exists (EPERM: it exists, as another user). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A lock line whose holder is known to be gone: a process of this host that no longer exists. */
function isStale(line: string): boolean {
  const holder = parseHolder(line);
  return holder !== undefined && holder.host === hostname() && !alive(holder.pid);
}

const readOrUndefined = (file: string): string | undefined => {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
};

const unlinkQuietly = (file: string): void => {
  try {
    unlinkSync(file);
  } catch {
    // Already gone.
  }
};

/** This process's line for a lock, and a private file holding it, ready to be linked. */
function ownLine(path: string): { line: string; file: string } {
  const nonce = randomBytes(8).toString("hex");
  const line = `${process.pid} ${hostname().replace(/\s/g, "_") || "host"} ${nonce}\n`;
  const file = `${path}.${process.pid}.${nonce}.tmp`;
  writeFileSync(file, line, { mode: 0o600, flag: "wx" });
  return { line, file };
}

/** Links `own` to `path` if nobody holds it: true if this process now holds it. */
function tryLink(own: string, path: string): boolean {
  try {
    linkSync(own, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  }
}

/**
 * Removes the lock at `path` if it still holds `stale` (a dead holder's line); at most one process
 * does so for a given line. Returns without removing anything if another process is breaking it.
 */
function breakStale(path: string, stale: string, depth = 0): void {
  if (depth > BREAK_DEPTH_MAX) return;
  const nonce = stale.trim().split(" ")[2] as string;
  const guard = `${path}.break-${nonce}`;
  const own = ownLine(guard);
  try {
    if (!tryLink(own.file, guard)) {
      const other = readOrUndefined(guard);
      if (other !== undefined && isStale(other)) breakStale(guard, other, depth + 1);
      return; // the caller tries again
    }
  } finally {
    unlinkQuietly(own.file);
  }
  try {
    if (readOrUndefined(path) === stale) unlinkSync(path);
  } finally {
    unlinkQuietly(guard);
  }
}

/**
 * Runs `fn` while holding the lock of `file` (`<file>.lock`), and releases it however `fn` ends.
 * Throws a LockError if a live holder keeps it beyond `waitMs`.
 */
export function withFileLock<T>(file: string, fn: () => T, options: LockOptions = {}): T {
  const path = `${file}.lock`;
  if (held.has(path)) throw new Error(`the lock ${path} is already held by this process`);
  const deadline = Date.now() + (options.waitMs ?? LOCK_WAIT_MS);
  const own = ownLine(path);
  try {
    let pause = 1;
    while (!tryLink(own.file, path)) {
      const line = readOrUndefined(path);
      if (line === undefined) continue; // released meanwhile
      if (isStale(line)) {
        breakStale(path, line);
        // Broken (try again at once), or another process is breaking it (give it a moment).
        if (readOrUndefined(path) !== line) continue;
      } else if (Date.now() >= deadline) {
        const holder = parseHolder(line);
        const who =
          holder === undefined
            ? "an unknown holder"
            : `process ${holder.pid} on ${holder.host === hostname() ? "this host" : holder.host}`;
        throw new LockError(
          path,
          `${file} is locked by ${who} for over ${((options.waitMs ?? LOCK_WAIT_MS) / 1000).toFixed(0)} s (lock file ${path}): ` +
            "if no gm is running as that process, remove the lock file",
        );
      }
      sleep(pause);
      pause = Math.min(pause * 2, 20);
    }
  } finally {
    unlinkQuietly(own.file);
  }
  held.add(path);
  try {
    return fn();
  } finally {
    held.delete(path);
    // Only our own line: never a lock someone else holds.
    if (readOrUndefined(path) === own.line) unlinkQuietly(path);
  }
}
