import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { LocalErrorCode, ProfileError, UsageError } from "../protocol/errors.js";
import { fingerprintOf, type Key, type KeyPair, userIdOf } from "../protocol/keys.js";
import { gmHome } from "../util/config.js";
import { loadOrCreateKeyFile, readKeyFile } from "../util/keyfile.js";
import { withFileLock } from "../util/lock-file.js";

export interface JoinedGroup {
  readonly id: string;
  readonly address: string;
  readonly joined: number;
  /** The display name the group server has for this user (from the last JOIN). */
  readonly displayName?: string;
  /** The group server's public key, from the directory's LIST (absent in profiles made before keys). */
  readonly key?: Key;
  /**
   * The read marker: the highest message seq of this group the user has been shown (absent: none
   * yet, as in profiles made before markers). It only moves forward (see Profile.update).
   */
  readonly read?: number;
}

export interface ProfileData {
  /** The user id: the id of the profile's key (keys.ts userIdOf). */
  uuid: string;
  /** The id this profile had before it had a key: claimed once in each group joined with it. */
  legacyUuid?: string;
  name: string;
  server?: string;
  /** Directory keys given once (--server-key, GM_SERVER_KEY), by endpoint. */
  serverKeys?: Record<string, Key>;
  groups: Record<string, JoinedGroup>;
}

/** Whether an id is a key's (keys.ts userIdOf makes version-8 UUIDs); older profiles have others. */
const isKeyId = (id: string): boolean => id[14] === "8";

const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function loginName(): string {
  try {
    return userInfo().username || "user";
  } catch {
    return "user";
  }
}

/**
 * A user's persistent identity and joined groups, one JSON file per profile under
 * `<GM_HOME>/profiles/`. Several processes may use one profile at once (a shell, a follower and
 * one-shot commands), so every change is a read-modify-write of the latest file under an
 * exclusive lock (`<profile>.json.lock`, util/lock-file.ts), written to a temporary file and
 * renamed into place: no change of one process is lost to another's, and a crash never leaves
 * half a file. Readers need no lock (a rename is atomic). Read markers only move forward, so a
 * change computed from an older view never takes one back.
 */
export class Profile {
  private constructor(
    readonly profile: string,
    readonly file: string,
    readonly data: ProfileData,
    /** The profile's CURVE keypair, in `<profile>.key` beside the profile (0600). */
    readonly keys: KeyPair,
  ) {}

  static load(profile = "default", home = gmHome()): Profile {
    if (!PROFILE_NAME.test(profile)) {
      throw new UsageError(`invalid profile name "${profile}": use letters, digits, '.', '_' or '-'`, {
        code: LocalErrorCode.BadProfileName,
      });
    }
    const dir = join(home, "profiles");
    const file = join(dir, `${profile}.json`);
    const keyFile = join(dir, `${profile}.key`);
    let data: ProfileData | undefined;
    try {
      data = JSON.parse(readFileSync(file, "utf8")) as ProfileData;
      if (typeof data.uuid !== "string" || typeof data.name !== "string") throw new Error("missing uuid or name");
      data.groups ??= {};
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
        throw new ProfileError(file, `cannot read profile ${file}: ${(err as Error).message}`, { cause: err });
      }
      data = undefined;
    }
    // A profile of a key (a version-8 id) is that key: without it, it is nobody. Never make a new
    // identity behind the user's back; only a profile from before keys gets its first one here.
    if (data !== undefined && isKeyId(data.uuid)) {
      const existing = readKeyFile(keyFile);
      const lost = `this profile is user ${data.uuid} (fingerprint ${fingerprintOf(data.uuid)}) and that key is its identity`;
      if (existing === undefined) {
        throw new ProfileError(
          file,
          `the key file ${keyFile} is missing: ${lost}. Restore the file from your backup; to start over as a new user, move ${file} away`,
        );
      }
      if (userIdOf(existing.publicKey) !== data.uuid) {
        throw new ProfileError(
          file,
          `the key file ${keyFile} holds another key (fingerprint ${fingerprintOf(userIdOf(existing.publicKey))}): ${lost}. Restore the right file, or move ${file} away to be the key's user`,
        );
      }
    }
    const keys = loadOrCreateKeyFile(keyFile, `the gm profile "${profile}"`);
    const id = userIdOf(keys.publicKey);
    if (data === undefined) {
      data = { uuid: id, name: profile === "default" ? loginName() : profile, groups: {} };
      mkdirSync(dir, { recursive: true });
      const p = new Profile(profile, file, data, keys);
      // Another process may create it at the same time: the first one's file (and what it has
      // changed since) is kept.
      p.update(() => {});
      return p;
    }
    const p = new Profile(profile, file, data, keys);
    if (data.uuid !== id) {
      // Made before profiles had keys: the user is now their key.
      // The old id is claimed in each joined group on first contact (PROTOCOL.md §12).
      p.update((d) => {
        d.legacyUuid ??= d.uuid;
        d.uuid = id;
      });
    }
    return p;
  }

  /** Picks up changes other processes made to the file (joins, leaves, a new name). */
  refresh(): this {
    try {
      const fresh = JSON.parse(readFileSync(this.file, "utf8")) as Partial<ProfileData>;
      if (fresh.uuid !== this.data.uuid) return this; // replaced by another identity: keep ours
      if (typeof fresh.name === "string") this.data.name = fresh.name;
      if (typeof fresh.server === "string") this.data.server = fresh.server;
      if (typeof fresh.serverKeys === "object" && fresh.serverKeys !== null) this.data.serverKeys = fresh.serverKeys;
      this.data.groups = fresh.groups ?? {};
    } catch {
      // Unreadable or gone: keep what we have; the next save writes it back.
    }
    return this;
  }

  /**
   * Calls `onChange` within about `intervalMs` of each save of the profile file, by this process
   * or another (a `gm user join` in another terminal), until the returned function is called.
   * Call it before reading what it guards: a save from then on is never missed.
   *
   * A poll, not fs.watch: `save` replaces the file by a rename, so a watch on the file follows the
   * old inode and goes quiet after the first save, and a watch on the directory, which inotify
   * serves, is not served on every filesystem (network mounts, some container and VM shares) and
   * would need a re-check by poll anyway. Nor fs.watchFile: its first stat runs later, on the
   * thread pool, so a save made before it is taken for the starting point and never reported.
   * One stat a second costs nothing; comparing the inode as well as size and times tells each
   * rename-based save apart, even within one mtime tick. The timer does not keep the process alive.
   */
  watch(onChange: () => void, intervalMs = 1000): () => void {
    const stamp = (): string => {
      try {
        const s = statSync(this.file);
        return `${s.ino} ${s.size} ${s.mtimeMs} ${s.ctimeMs}`;
      } catch {
        return "gone";
      }
    };
    let last = stamp();
    const timer = setInterval(() => {
      const now = stamp();
      if (now === last) return;
      last = now;
      onChange();
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /**
   * Applies a change to the latest version of the file and saves it, under the profile's lock: a
   * change another process made meanwhile is kept. A read marker the change would move back (it
   * was computed from an older view of the group) keeps its later value.
   */
  update(change: (data: ProfileData) => void): void {
    withFileLock(this.file, () => {
      this.refresh();
      const before = new Map(Object.entries(this.data.groups).map(([name, g]) => [name, g]));
      change(this.data);
      for (const [name, g] of Object.entries(this.data.groups)) {
        const was = before.get(name);
        if (was?.read !== undefined && was.id === g.id && (g.read ?? -1) < was.read) {
          this.data.groups[name] = { ...g, read: was.read };
        }
      }
      this.write();
    });
  }

  /**
   * Moves read markers forward to the given seqs (never back), for groups still joined.
   * Returns whether any marker moved.
   */
  markRead(seqs: ReadonlyMap<string, number> | Record<string, number>): boolean {
    const entries = seqs instanceof Map ? [...seqs] : Object.entries(seqs);
    let moved = false;
    this.update((d) => {
      for (const [name, seq] of entries) {
        const g = d.groups[name];
        if (g === undefined || (g.read !== undefined && g.read >= seq)) continue;
        d.groups[name] = { ...g, read: seq };
        moved = true;
      }
    });
    return moved;
  }

  /** The joined groups, sorted by name (the original show_groups). */
  joined(): Array<{ name: string } & JoinedGroup> {
    return Object.entries(this.refresh().data.groups)
      .map(([name, g]) => ({ name, ...g }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Writes the profile as it is in memory; only under the lock (see update). */
  private write(): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.data, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}
