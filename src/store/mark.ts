import { createHash } from "node:crypto";
import {
  closeSync,
  fdatasync,
  fdatasyncSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import { StoreError } from "../protocol/errors.js";

/**
 * A group's high-water mark: `<name>.hwm` beside its database holds the group's id and the
 * highest seq that was ever acknowledged. The store syncs it after the WAL in the same sync cycle
 * and before it acknowledges, so the mark never passes what is durable in the database and never
 * lags what a client (or a follower) was told. A database that is behind its mark lost
 * acknowledged messages (a WAL deleted, cut or zeroed; the file replaced); one whose id differs
 * was replaced. Both are refused at open (sqlite.ts), never served as a fresh or shorter group; so
 * is a database whose mark is missing although it had one (the "marked" row of its meta).
 *
 * The file is two fixed-size slots written in turn, each with a counter and a checksum: a write
 * torn by a power cut spoils at most the slot being written, and the other still holds the
 * previous mark (which the database is not behind either).
 */
export interface MarkState {
  readonly id: string;
  readonly seq: number;
  /** The number of the write that made it (which slot comes next): set by readMark. */
  readonly counter?: number;
}

const SLOT = 128;
/** The mark is synced at most this often (ms); see note(). */
const MARK_SYNC_MS = 200;
const MAGIC = "gm-hwm1";

function slot(state: MarkState, counter: number): Buffer {
  const body = `${MAGIC} ${state.id} ${state.seq} ${counter}`;
  const sum = createHash("sha256").update(body).digest("hex").slice(0, 16);
  const line = `${body} ${sum}`;
  return Buffer.from(`${line.padEnd(SLOT - 1, " ")}\n`, "latin1");
}

function parseSlot(bytes: Buffer): (MarkState & { counter: number }) | undefined {
  const m = /^(gm-hwm1 (\S+) (\d{1,16}) (\d{1,16})) ([0-9a-f]{16}) *\n$/.exec(bytes.toString("latin1"));
  if (m === null) return undefined;
  const sum = createHash("sha256")
    .update(m[1] as string)
    .digest("hex")
    .slice(0, 16);
  if (sum !== m[5]) return undefined;
  return { id: m[2] as string, seq: Number(m[3]), counter: Number(m[4]) };
}

/** The mark in `file`, undefined if there is none; a StoreError if it exists but neither slot is whole. */
export function readMark(file: string): MarkState | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new StoreError(`cannot read the high-water mark ${file}: ${(err as Error).message}`, { cause: err });
  }
  const slots = [parseSlot(bytes.subarray(0, SLOT)), parseSlot(bytes.subarray(SLOT, 2 * SLOT))];
  const best = slots
    .filter((s) => s !== undefined)
    .sort((a, b) => b.counter - a.counter)
    .at(0);
  if (best === undefined) {
    throw new StoreError(
      `the high-water mark ${file} is damaged: compare the database with a backup (gm group --check), then delete ${file} and start the group once with --accept-loss to accept the database as it is`,
    );
  }
  return best;
}

/** A mark file held open by a store that advances it after each sync of its WAL. */
export class HighWaterMark {
  private counter = 1;
  /** The seq the file holds (written, perhaps not yet synced). */
  private written: number;
  /** The seq known to be on disk. */
  private synced: number;
  /** fdatasyncs of the mark file that ended well (see note()). */
  private syncCount = 0;

  private constructor(
    readonly file: string,
    private readonly fd: number,
    private readonly id: string,
    seq: number,
  ) {
    this.written = seq;
    this.synced = seq;
  }

  /** Writes a new mark file atomically (a temporary file, synced, renamed, the directory synced). */
  static create(file: string, state: MarkState): HighWaterMark {
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, Buffer.concat([slot(state, 0), slot(state, 1)]), { mode: 0o600 });
    const tfd = openSync(tmp, "r");
    try {
      fsyncSync(tfd);
    } finally {
      closeSync(tfd);
    }
    renameSync(tmp, file);
    const dirFd = openSync(dirname(file), "r");
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    return HighWaterMark.hold(file, state);
  }

  /** Holds the existing mark file `file`, which holds `state`. */
  static hold(file: string, state: MarkState): HighWaterMark {
    const mark = new HighWaterMark(file, openSync(file, "r+"), state.id, state.seq);
    mark.counter = state.counter ?? 1;
    return mark;
  }

  /** Writes `seq` into the next slot, if it is past the mark (not yet durable: see sync). */
  private advance(seq: number): void {
    if (seq <= this.written) return;
    this.written = seq;
    this.counter++;
    writeSync(this.fd, slot({ id: this.id, seq }, this.counter), 0, SLOT, (this.counter % 2) * SLOT);
  }

  /**
   * `seq` is durable in the database: writes it into the mark before it is acknowledged (a
   * write to the page cache, which a crash of the process does not lose), and has the mark synced
   * on the thread pool without waiting for it (one sync at a time, taking along every later
   * note). Only a power cut can lose the notes since the last such sync, and a mark that is behind
   * is never a false alarm. At most one sync per MARK_SYNC_MS: one per batch took a third to
   * two thirds of the store's throughput.
   */
  note(seq: number): void {
    this.advance(seq);
    if (this.written > this.synced && this.timer === undefined && !this.syncing && !this.closed) {
      this.timer = setTimeout(() => this.flush(), MARK_SYNC_MS);
      this.timer.unref();
    }
  }

  private syncing = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  private flush(): void {
    this.timer = undefined;
    this.syncing = true;
    const seq = this.written;
    fdatasync(this.fd, (err) => {
      this.syncing = false;
      if (err === null) {
        this.synced = Math.max(this.synced, seq);
        this.syncCount++;
      }
      if (!this.closed) this.note(this.written);
    });
  }

  /** How many times the mark file was synced while open (at most one per MARK_SYNC_MS). */
  get syncs(): number {
    return this.syncCount;
  }

  /** Syncs what was noted and closes the file. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    try {
      if (this.written > this.synced) fdatasyncSync(this.fd);
      closeSync(this.fd);
    } catch {
      // Already closed.
    }
  }
}
