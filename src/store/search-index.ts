import type Database from "better-sqlite3";

/** A batch's worth of messages waiting for the index makes it index them at once. */
const CHUNK = 256;
/** Fewer wait at most this long (or until the next search, or close). */
const DELAY_MS = 250;
/** The most messages one index transaction takes (a backlog at open, after a crash). */
const MOST = 10_000;

/**
 * Keeps a group's FTS5 index (sqlite.ts's migration 4) up with its messages, a little behind the
 * log: messages are indexed in transactions of their own, in chunks, after the batches that
 * stored them, and never on a SEND's way to its reply. An FTS5 index writes a segment at every
 * commit it is part of, which costs about as much as the messages' own rows at the group commit's
 * usual batch sizes and far more for one message at a time; in chunks of a few hundred it costs a
 * tenth of that (docs/PERFORMANCE.md, "Search"). A search indexes what waits first, so it sees
 * every stored message.
 *
 * meta's "indexed" is the highest seq indexed, written in the transaction that indexed it: after a
 * crash the index and its mark are both as they were at one commit, and the next open indexes the
 * rest. Messages are never changed or deleted, so the index only grows at its end.
 */
export class SearchIndex {
  private indexed: number;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private readonly index: (from: number, to: number) => void;

  /**
   * `last`: the highest seq stored (committed, perhaps not yet durable); `writable`: whether the
   * store takes writes still (not after a failed sync, nor once closed).
   */
  constructor(
    db: Database.Database,
    private readonly last: () => number,
    private readonly writable: () => boolean,
  ) {
    const mark = db.prepare<[], string>("SELECT value FROM meta WHERE key = 'indexed'").pluck().get();
    this.indexed = Number(mark ?? 0);
    const add = db.prepare(
      "INSERT INTO messages_fts (rowid, text) SELECT seq, text FROM messages WHERE seq > ? AND seq <= ?",
    );
    const note = db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('indexed', ?)");
    this.index = db.transaction((from: number, to: number) => {
      add.run(from, to);
      note.run(String(to));
    });
  }

  /** How many stored messages wait to be indexed. */
  get waiting(): number {
    return Math.max(0, this.last() - this.indexed);
  }

  /**
   * Indexes every stored message not indexed yet, now. Throws the database's error (SQLITE_FULL
   * on a full disk: nothing of the failed chunk is indexed, and the next call tries again).
   */
  catchUp(): void {
    this.cancel();
    const to = this.last();
    while (this.indexed < to) {
      const next = Math.min(to, this.indexed + MOST);
      this.index(this.indexed, next);
      this.indexed = next;
    }
  }

  /** Called after each committed batch: indexes at once if a chunk waits, else after DELAY_MS. */
  stored(): void {
    const waiting = this.waiting;
    if (waiting === 0 || this.immediate !== undefined) return;
    if (waiting >= CHUNK) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.immediate = setImmediate(() => this.background());
    } else if (this.timer === undefined) {
      this.timer = setTimeout(() => this.background(), DELAY_MS);
      this.timer.unref();
    }
  }

  /** Indexes what waits, leaving any failure to the next search (which reports it) or the next start. */
  background(): void {
    this.immediate = undefined;
    this.timer = undefined;
    if (!this.writable()) return;
    try {
      this.catchUp();
    } catch {
      // A full disk, or a damaged index: searches index first and say so, naming the file.
    }
  }

  /** Drops the pending timer (at close; catchUp() first to leave the index complete). */
  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.immediate = undefined;
  }
}
