import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { Limits } from "../protocol/constants.js";
import { StoreError } from "../protocol/errors.js";
import { isKey, type Key } from "../protocol/keys.js";
import { NAME_LAPSE_DAYS } from "../protocol/timing.js";
import { groupNameKey } from "../protocol/validate.js";

interface Binding {
  /** The name as it was first registered (names are compared by case fold, PROTOCOL.md §4). */
  readonly name: string;
  readonly key: Key;
  /** Monotonic time (ms) of its latest registration: what its lapse is measured from. */
  seen: number;
  /** `seen` as of the last time the file was written: a refresh a day later is written again. */
  saved: number;
}

/** What a NameBindings keeps and for how long (PROTOCOL.md §12.6, §4). */
export interface NameBindingsOptions {
  /** A binding not registered for this long lapses (default NAME_LAPSE_DAYS days). */
  readonly lapseMs?: number;
  /** Most unlapsed bindings (default Limits.directoryNameBindings). */
  readonly max?: number;
  /** Monotonic clock, ms (durations within a run). */
  readonly now?: () => number;
  /** Wall clock, ms since the epoch (the times written to the file). */
  readonly wallNow?: () => number;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** A refresh is written to the file once its binding's saved time is this old. */
export const NAME_SAVE_INTERVAL_MS = DAY_MS;
/**
 * A binding found lapsed when the file is loaded (the directory was stopped for a long time) is
 * kept this long after the start all the same, so its group server, which retries, registers it
 * again before anyone else can take the name.
 */
export const NAME_LOAD_GRACE_MS = 60 * 60 * 1000;

/**
 * Which group server key each group name belongs to (PROTOCOL.md §12.6): the key that first
 * registered the name, kept across restarts in one JSON file, written atomically (temp file and
 * rename) and fsynced each time a name is bound or released, and when a binding's refresh is a
 * day newer than the time the file holds for it (so heartbeats do not rewrite the file). A
 * binding not registered for `lapseMs` lapses: the name is free again. Without a file (tests),
 * bindings live in memory. Names that differ only by case are one name: `get("GENERAL")` is the
 * binding of `general`.
 *
 * Clocks: within a run a binding's age is measured on the monotonic clock, so a wall clock set
 * ahead does not lapse the bindings of live groups, nor one set back keep dead ones. The file holds
 * wall-clock times (ISO 8601), the only clock that means anything across a restart; at load, each
 * binding's age is the wall clock minus its time (a time in the future counts as now).
 */
export class NameBindings {
  /** By the name's case fold. */
  private readonly names = new Map<string, Binding>();
  /**
   * Lines for the log about what the file held and is not kept: names a file made by an older gm
   * (which told case apart) bound a second time in another case (the first one in the file is
   * kept), and how many bindings had lapsed (the directory logs them at start).
   */
  readonly dropped: string[] = [];
  readonly lapseMs: number;
  readonly max: number;
  private readonly now: () => number;
  private readonly wallNow: () => number;
  /** No binding's `seen` is older than this (a lower bound: see prune). */
  private oldest = Number.POSITIVE_INFINITY;

  constructor(
    private readonly file?: string,
    options: NameBindingsOptions = {},
  ) {
    this.lapseMs = options.lapseMs ?? NAME_LAPSE_DAYS * DAY_MS;
    this.max = options.max ?? Limits.directoryNameBindings;
    this.now = options.now ?? (() => performance.now());
    this.wallNow = options.wallNow ?? (() => Date.now());
    if (file === undefined) return;
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw new StoreError(`cannot read the directory's name bindings ${file}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new StoreError(`the directory's name bindings ${file} are damaged (not JSON); fix or move the file`, {
        cause: err,
      });
    }
    const names = (parsed as { names?: unknown })?.names;
    if (typeof names !== "object" || names === null) {
      throw new StoreError(
        `the directory's name bindings ${file} are damaged (no "names" object); fix or move the file`,
      );
    }
    const now = this.now();
    const wall = this.wallNow();
    let lapsed = 0;
    let upgraded = false;
    for (const [name, value] of Object.entries(names)) {
      // An older gm wrote the key alone, without a time: registered now, as far as we know.
      const { key, registered } =
        typeof value === "string" ? { key: value, registered: undefined } : ((value ?? {}) as Record<string, unknown>);
      if (!isKey(key)) throw new StoreError(`the directory's name bindings ${file} hold a bad key for "${name}"`);
      let age = 0;
      if (registered === undefined) upgraded = true;
      else {
        const at = typeof registered === "string" ? Date.parse(registered) : Number.NaN;
        if (Number.isNaN(at)) {
          throw new StoreError(
            `the directory's name bindings ${file} hold a bad "registered" time for "${name}"; fix or move the file`,
          );
        }
        age = Math.max(0, wall - at);
      }
      if (age > this.lapseMs) {
        lapsed++;
        age = this.lapseMs - NAME_LOAD_GRACE_MS;
      }
      const kept = this.names.get(groupNameKey(name));
      if (kept === undefined) {
        this.names.set(groupNameKey(name), { name, key, seen: now - age, saved: now - age });
        this.oldest = Math.min(this.oldest, now - age);
      } else if (kept.key !== key) {
        this.dropped.push(
          `the name bindings ${file} bind "${name}" and "${kept.name}", one name, to two keys: kept "${kept.name}" (the first), ignored "${name}"; \`gm server --release ${kept.name}\` frees the name`,
        );
      }
    }
    if (lapsed > 0) {
      this.dropped.push(
        `${lapsed} name binding${lapsed === 1 ? "" : "s"} in ${file} not registered for over ${formatDays(this.lapseMs)}: kept ${formatDays(NAME_LOAD_GRACE_MS)} more for their group servers to register again, then free`,
      );
    }
    // Fix the times of an older gm's file, and of the grace, so that a restart does not renew them.
    if (upgraded || lapsed > 0) this.save();
  }

  /** The key a name (in any case) belongs to, if any binding of it has not lapsed. */
  get(name: string): Key | undefined {
    return this.binding(name)?.key;
  }

  /** The spelling a name (in any case) was bound with, if it is bound. */
  spelling(name: string): string | undefined {
    return this.binding(name)?.name;
  }

  /** Whether one more name may be bound: fewer than `max` bindings have not lapsed. */
  hasRoom(): boolean {
    if (this.names.size >= this.max) this.prune();
    return this.names.size < this.max;
  }

  /** Binds an unbound name to a key and saves it (the caller has made sure there is room). */
  bind(name: string, key: Key): void {
    const now = this.now();
    this.names.set(groupNameKey(name), { name, key, seen: now, saved: now });
    this.oldest = Math.min(this.oldest, now);
    this.save();
  }

  /**
   * The name's owner registered it again: its lapse starts over. Written to the file only when
   * the time there is NAME_SAVE_INTERVAL_MS old, so a refresh every second costs no write.
   */
  refresh(name: string): void {
    const b = this.binding(name);
    if (b === undefined) return;
    b.seen = this.now();
    if (b.seen - b.saved >= NAME_SAVE_INTERVAL_MS) this.save();
  }

  /** Releases a name in whatever case it was bound (an operator's decision); true if it was bound. */
  release(name: string): boolean {
    const had = this.binding(name) !== undefined;
    if (had) {
      this.names.delete(groupNameKey(name));
      this.save();
    }
    return had;
  }

  /** Bindings held that have not lapsed. */
  get size(): number {
    this.prune();
    return this.names.size;
  }

  /** A name's binding, if it has not lapsed (a lapsed one is forgotten). */
  private binding(name: string): Binding | undefined {
    const b = this.names.get(groupNameKey(name));
    if (b === undefined || !this.lapsed(b, this.now())) return b;
    this.names.delete(groupNameKey(name));
    return undefined;
  }

  private lapsed(b: Binding, now: number): boolean {
    return now - b.seen > this.lapseMs;
  }

  /**
   * Forgets every lapsed binding. Skipped while even the oldest `seen` of the last pass has not
   * lapsed (refreshes only move times forward), so REGISTERs refused at the cap cost no scan.
   */
  private prune(): void {
    const now = this.now();
    if (now - this.oldest <= this.lapseMs) return;
    this.oldest = Number.POSITIVE_INFINITY;
    for (const [k, b] of this.names) {
      if (this.lapsed(b, now)) this.names.delete(k);
      else this.oldest = Math.min(this.oldest, b.seen);
    }
  }

  private save(): void {
    this.prune();
    if (this.file === undefined) return;
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    const now = this.now();
    const wall = this.wallNow();
    const sorted = [...this.names.values()].sort((a, b) => a.name.localeCompare(b.name));
    const names = Object.fromEntries(
      sorted.map((b) => [b.name, { key: b.key, registered: new Date(wall - (now - b.seen)).toISOString() }]),
    );
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, `${JSON.stringify({ names }, null, 2)}\n`);
      fsyncSync(fd); // a binding the directory answered with survives a crash
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    for (const b of sorted) b.saved = b.seen;
  }
}

/** A duration in whole days, or hours below a day. */
function formatDays(ms: number): string {
  const [n, unit] = ms < DAY_MS ? [Math.round(ms / 3_600_000), "hour"] : [Math.round(ms / DAY_MS), "day"];
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}
