import {
  chmodSync,
  closeSync,
  fdatasync,
  fdatasyncSync,
  fsyncSync,
  mkdirSync,
  openSync,
  rmSync,
  statSync,
} from "node:fs";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import { parse as uuidParse, v4 as uuidv4 } from "uuid";
import { ErrorCode, Status } from "../protocol/constants.js";
import { GmError, StoreError } from "../protocol/errors.js";
import type { AppendResult, HistoryPage } from "../protocol/types.js";
import { admit, inviteNames, type Refusal } from "./admission.js";
import { HighWaterMark, type MarkState, readMark } from "./mark.js";
import { fillPage } from "./page.js";
import { SearchIndex } from "./search-index.js";
import { storeSpelling } from "./spelling.js";
import { type CommittedBatch, SyncPolicy } from "./sync-policy.js";
import type {
  GroupStore,
  HistoryPageJson,
  HistoryQuery,
  Member,
  SearchQuery,
  StoreFactory,
  SyncCounts,
} from "./types.js";

/**
 * The schema's history: migration n takes a database from `PRAGMA user_version` n-1 to n. All
 * that are due run in one transaction when a store opens. Append new ones; never edit one that
 * has shipped (a store that ran it will not run it again).
 */
const MIGRATIONS: readonly string[] = [
  // 1: the tables. IF NOT EXISTS: stores made before migrations were numbered have user_version 0
  // and these tables already.
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
   CREATE TABLE IF NOT EXISTS members (
     user TEXT PRIMARY KEY, name TEXT NOT NULL, joined INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE IF NOT EXISTS messages (
     seq INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE, ts INTEGER NOT NULL,
     user TEXT NOT NULL, name TEXT NOT NULL, text TEXT NOT NULL
   );`,
  // 2: no index on ts: ts never decreases as seq grows, so a time is found by bisecting seq (one
  // page fewer to write per commit, ~17 bytes less per message). The first stores had one.
  "DROP INDEX IF EXISTS messages_ts;",
  // 3: moderation. The owner and the invite-only switch are rows of meta ("owner", "invite_only");
  // no owner and open to all is what a store of version 2 means, so nothing else changes.
  `CREATE TABLE barred (user TEXT PRIMARY KEY) WITHOUT ROWID;
   CREATE TABLE invites (entry TEXT PRIMARY KEY) WITHOUT ROWID;`,
  // 4: search (SEARCH, PROTOCOL.md §6.2). An FTS5 index of the texts that reads them from messages
  // (external content: stored once), keyed by seq; no per-row sizes (columnsize=0: results are
  // ordered by seq, never ranked, and that is one b-tree write less per message). 'rebuild'
  // indexes the messages already there, and meta's "indexed" says how far the index reaches;
  // search-index.ts keeps it up with new messages.
  `CREATE VIRTUAL TABLE messages_fts USING fts5(
     text, content='messages', content_rowid='seq', tokenize='unicode61 remove_diacritics 2', columnsize=0
   );
   INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
   INSERT OR REPLACE INTO meta (key, value) SELECT 'indexed', coalesce(max(seq), 0) FROM messages;`,
];

/** The schema version this gm writes: a store with a higher user_version is refused. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** The message id (a 16-byte BLOB, column `id` of table `t`) as a lower-case uuid string, in SQL. */
const uuidSql = (t: string) =>
  `lower(substr(hex(${t}id),1,8)||'-'||substr(hex(${t}id),9,4)||'-'||substr(hex(${t}id),13,4)||'-'||substr(hex(${t}id),17,4)||'-'||substr(hex(${t}id),21,12))`;
/** A message row (of table `t`, e.g. "m.", or "" alone) as the JSON object of PROTOCOL.md, in SQL. */
const messageJsonSql = (t = "") =>
  `json_object('seq',${t}seq,'ts',${t}ts,'id',${uuidSql(t)},'user',${t}user,'name',${t}name,'text',${t}text)`;
/** A message row as the JSON object of PROTOCOL.md (a StoredMessage), in SQL. */
export const MESSAGE_JSON = messageJsonSql();

/**
 * A search's words as an FTS5 query that means exactly "every word": each one a string in
 * double quotes (a quote inside doubled), so nothing a user types (`OR`, `NEAR(`, `*`, `^`, `:`,
 * parentheses, quotes) is read as FTS5 syntax; FTS5 splits each into its tokens, and a word of
 * several ("e-mail") must match them in a row. NUL would end the query text early (an
 * "unterminated string"), so the words must have none: validate.ts's searchWords splits at it.
 */
export function ftsQuery(words: readonly string[]): string {
  return words.map((w) => `"${w.replaceAll('"', '""')}"`).join(" ");
}

/** What opening a store may be told (SqliteGroupStore.open). */
export interface SqliteOpenOptions {
  /**
   * Syncs run on the event loop while their recent median is below this many ms (default
   * sync-policy.ts's LOOP_SYNC_MAX_MS; 0 puts every sync on the thread pool, as on a slow disk).
   */
  readonly loopSyncMaxMs?: number;
  /**
   * Serve a store that is behind its high-water mark (lost acknowledged messages) or was lost
   * altogether: numbering continues after the mark, the seqs in between stay a recorded gap.
   */
  readonly acceptLoss?: boolean;
  /** Told, in one line, about a loss that acceptLoss let through. */
  readonly warn?: (line: string) => void;
  /**
   * The exact command lines a refusal of group `name`'s store tells the operator to run: the
   * command that was refused with --accept-loss, and `gm group --check` for that group and data
   * dir (default: the flags' names alone).
   */
  readonly commandLines?: (name: string) => { readonly acceptLoss: string; readonly check: string };
}

/** The SQLite error codes that mean the file itself is damaged or is no database. */
const DAMAGED = new Set(["SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_CORRUPT_INDEX", "SQLITE_CORRUPT_SEQUENCE"]);

/**
 * A failure of `file` as a StoreError that names it (and says what to do when the file is
 * damaged); `group`: it happened while opening that group's store.
 */
export function storeFailure(file: string, err: unknown, group?: string): StoreError {
  if (err instanceof StoreError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown }).code;
  const what =
    group === undefined ? `the store ${file} failed` : `cannot open the store for group "${group}" at ${file}`;
  if (typeof code === "string" && (DAMAGED.has(code) || code.startsWith("SQLITE_CORRUPT"))) {
    return new StoreError(
      `${what}: the file is damaged (${detail}); stop the group server, check it with \`gm group --check\` and restore it from a backup`,
      { cause: err },
    );
  }
  return new StoreError(`${what}: ${detail}`, { cause: err });
}

/** The recovery advice every refusal of a lost store of group `name` ends with. */
function recovery(file: string, name: string, options: SqliteOpenOptions): string {
  const lines = options.commandLines?.(name);
  const serve = lines === undefined ? "start the group with --accept-loss" : `run \`${lines.acceptLoss}\``;
  const check = lines?.check ?? "gm group --check";
  return `restore ${file} (with its -wal file, if the backup has one) from a backup, or ${serve} to serve what is left (numbering continues after the mark; the missing seqs stay a gap); \`${check}\` reports the state`;
}

/** Gaps accepted with acceptLoss: [from, to] seq ranges that will never hold a message. */
function parseGaps(text: string | undefined): Array<[number, number]> {
  if (text === undefined) return [];
  const gaps = JSON.parse(text) as unknown;
  return Array.isArray(gaps) ? (gaps as Array<[number, number]>) : [];
}

interface Opened {
  db: Database.Database;
  id: string;
  created: number;
  /** The highest seq used: the newest message's, or past it after an accepted loss. */
  lastSeq: number;
  lastTs: number;
  /** The database records that its high-water mark was made. */
  marked: boolean;
}

/**
 * Opens a group's database and takes its exclusive lock (a second server of the group fails
 * here), migrating the schema and creating the identity on first use, and compares it with the
 * group's high-water mark (`mark`, if it has one): a database whose id is another than the mark's,
 * or that ends before the mark, is refused unless `acceptLoss`. Closes the file again on any refusal.
 */
function openDatabase(
  file: string,
  name: string,
  mark: MarkState | undefined,
  markFile: string,
  options: SqliteOpenOptions,
): Opened {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { timeout: 0 });
    db.pragma("locking_mode = EXCLUSIVE");
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    // 4 MB of page cache per group: the hot pages are the newest ones and the indexes' upper levels.
    db.pragma("cache_size = -4000");
    const version = db.pragma("user_version", { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new StoreError(
        `${file} has schema version ${version}, but this gm knows versions up to ${SCHEMA_VERSION}: it was written by a newer gm; serve it with that one (the file is left as it is)`,
      );
    }
    const database = db;
    let opened: Omit<Opened, "db"> | undefined;
    // Migrations, the identity and mark checks and the first write in one transaction: a refused
    // open (another group's file, a lost store) leaves the file as it was.
    let fresh = false;
    const opening = database.transaction(() => {
      for (let v = version; v < SCHEMA_VERSION; v++) database.exec(MIGRATIONS[v] as string);
      if (version < SCHEMA_VERSION) database.pragma(`user_version = ${SCHEMA_VERSION}`);
      const meta = database.prepare<[string], { value: string }>("SELECT value FROM meta WHERE key = ?");
      const held = meta.get("name")?.value;
      if (held !== undefined && held !== name) throw new StoreError(`${file} holds group "${held}", not "${name}"`);
      const setMeta = database.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
      let id = meta.get("id")?.value;
      let created = Number(meta.get("created")?.value);
      const now = Date.now();
      if (id !== undefined && mark !== undefined && id !== mark.id) {
        if (options.acceptLoss !== true) {
          throw new StoreError(
            `${file} holds group "${name}" with id ${id}, but its high-water mark ${markFile} says the group is ${mark.id}, with messages up to seq ${mark.seq}: the database was replaced by another one; ${recovery(file, name, options)}`,
          );
        }
        options.warn?.(
          `ACCEPTED LOSS: ${file} (id ${id}) replaces group ${mark.id} of ${markFile}; numbering continues after seq ${mark.seq}`,
        );
      }
      // Each store records that its mark was made ("marked", written once the mark file exists): a
      // store that had one and lost it may have lost the acknowledged messages past its last seq
      // too (a WAL deleted with it, a database restored from a backup), which nothing else shows;
      // re-making the mark at the database's last seq would reuse those seqs for new messages.
      if (id !== undefined && mark === undefined && meta.get("marked")?.value === "1") {
        if (options.acceptLoss !== true) {
          throw new StoreError(
            `the high-water mark ${markFile} of group "${name}" (id ${id}) is missing, but ${file} had one: without it gm cannot tell whether acknowledged messages were lost (a deleted -wal file, a restored backup), and new messages could reuse their seqs; restore ${markFile} from a backup, or ${options.commandLines === undefined ? "start the group with --accept-loss" : `run \`${options.commandLines(name).acceptLoss}\``} to make a new mark at the database's last seq (a follower that saw lost messages will see their seqs again); \`${options.commandLines?.(name).check ?? "gm group --check"}\` reports the state`,
          );
        }
        options.warn?.(
          `ACCEPTED LOSS: the high-water mark ${markFile} of group "${name}" was missing; a new one is made at the database's last seq: if acknowledged messages past it were lost, their seqs will be used again`,
        );
      }
      if (id === undefined && mark !== undefined && options.acceptLoss !== true) {
        throw new StoreError(
          `${file} holds no group (its tables were lost), but its high-water mark ${markFile} says group "${name}" (id ${mark.id}) had messages up to seq ${mark.seq}; ${recovery(file, name, options)}`,
        );
      }
      if (id === undefined) {
        // A new group, or (acceptLoss) one whose database was lost: it keeps the mark's id.
        fresh = true;
        id = mark?.id ?? uuidv4();
        created = now;
        setMeta.run("id", id);
        setMeta.run("name", name);
        setMeta.run("created", String(created));
      }
      // The newest row, found down the right edge of the b-tree: ts never decreases as seq grows,
      // so its ts is the highest (max(ts) would read every page of the table at each open).
      const last = database
        .prepare<[], { seq: number; ts: number }>("SELECT seq, ts FROM messages ORDER BY seq DESC LIMIT 1")
        .get();
      const floor = Number(meta.get("seq_floor")?.value ?? 0);
      const stored = Math.max(last?.seq ?? 0, floor);
      let lastSeq = stored;
      if (mark !== undefined && stored < mark.seq) {
        if (options.acceptLoss !== true) {
          throw new StoreError(
            `${file} went backwards: its messages end at seq ${stored}, but ${markFile} says messages up to seq ${mark.seq} were acknowledged; ${mark.seq - stored === 1 ? "1 acknowledged message is" : `${mark.seq - stored} acknowledged messages are`} missing (${file}-wal lost, cut or zeroed?); ${recovery(file, name, options)}`,
          );
        }
        const gaps = parseGaps(meta.get("gaps")?.value);
        gaps.push([stored + 1, mark.seq]);
        setMeta.run("gaps", JSON.stringify(gaps));
        setMeta.run("seq_floor", String(mark.seq));
        lastSeq = mark.seq;
        options.warn?.(
          `ACCEPTED LOSS: group "${name}" in ${file} lost seqs ${stored + 1}..${mark.seq} (acknowledged, now missing); they stay a gap, the next message is seq ${mark.seq + 1}; joins, leaves and moderation written since the last checkpoint are lost too (check the members; name the owner with --owner)`,
        );
      }
      opened = { id, created, lastSeq, lastTs: last?.ts ?? 0, marked: meta.get("marked")?.value === "1" };
      // Also the first write: it takes the exclusive lock and creates the WAL file sync() flushes.
      setMeta.run("opened", String(now));
    });
    try {
      opening();
    } catch (err) {
      // On a full disk a store that needs no migration and has its identity still opens, to serve
      // reads; its writes get STORAGE_FULL until there is room (the lock is held all the same).
      if (!isDiskFull(err) || fresh || version < SCHEMA_VERSION || opened === undefined) throw err;
    }
    return { db, ...(opened as Omit<Opened, "db">) };
  } catch (err) {
    db?.close();
    if (err instanceof StoreError) throw err;
    const detail = err instanceof Error ? err.message : String(err);
    if (/locked|busy/i.test(detail)) {
      throw new StoreError(`group "${name}" is already served by another process (${file} is locked)`);
    }
    throw storeFailure(file, err, name);
  }
}

/** Whether SQLite failed for want of room (SQLITE_FULL: the disk, or the file system's quota). */
function isDiskFull(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === "SQLITE_FULL";
}

/**
 * A write refused for want of room: 300 STORAGE_FULL, as a retry once there is room succeeds
 * (PROTOCOL.md §3). Reads go on meanwhile.
 */
function storageFull(name: string, file: string, cause: unknown): GmError {
  return new GmError(
    ErrorCode.StorageFull,
    `the store of group "${name}" is out of room (${file}: database or disk is full); nothing was stored, try again later`,
    Status.TryAgain,
    { cause },
  );
}

/**
 * The StoreFactory a GroupServer opens SQLite stores with: group `name` in `<dataDir>/<name>.db`
 * (options as SqliteGroupStore.open's).
 */
export function sqliteStores(dataDir: string, options: SqliteOpenOptions = {}): StoreFactory {
  return (name) => SqliteGroupStore.open(dataDir, name, options);
}

/** A committed batch of writes, waiting for a sync that makes it durable. */
class Batch implements CommittedBatch {
  constructor(
    /** Makes `seq` the store's durable seq. */
    private readonly reach: (seq: number) => void,
    /** The last seq once this batch is durable. */
    private readonly seq: number,
    private readonly ops: Op[],
  ) {}

  get writes(): number {
    return this.ops.length;
  }

  durable(): void {
    this.reach(this.seq);
    for (const op of this.ops) op.resolve(op.result);
  }

  refuse(err: Error): void {
    for (const op of this.ops) op.reject(err);
  }
}

/** A write waiting for its batch: `apply` runs inside the batch's transaction. */
interface Op {
  apply(): unknown;
  result?: unknown;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/**
 * One group's members and message log in one SQLite file (WAL, exclusive lock: one process owns
 * a group). Durability by group commit: every write that arrives in one turn of the event loop
 * shares one transaction, committed with synchronous=NORMAL (SQLite does not sync); then the WAL
 * file is fdatasync'ed, and only then are the writes acknowledged. That is the on-disk state
 * synchronous=FULL would give, with one sync per batch, and it survives a power cut, not only a
 * crash. Where and when each batch is synced is the SyncPolicy's decision (sync-policy.ts).
 */
export class SqliteGroupStore implements GroupStore {
  readonly id: string;
  readonly createdAt: number;
  private readonly db: Database.Database;
  private readonly walFd: number;
  private readonly memberMap = new Map<string, Member>();
  private ownerId: string | undefined;
  private inviteOnlyFlag = false;
  private readonly barredSet = new Set<string>();
  private readonly inviteSet = new Set<string>();
  private lastSeq: number;
  private lastTs: number;
  private durable: number;
  private queue: Op[] = [];
  private scheduled = false;
  private closed = false;
  private readonly stmt: ReturnType<SqliteGroupStore["prepare"]>;
  private readonly runBatch: (batch: Op[]) => void;
  private readonly sync: SyncPolicy;
  private readonly reach = (seq: number): void => {
    this.durable = seq;
  };

  /** The high-water mark beside the database (mark.ts). */
  private readonly mark: HighWaterMark;
  /** The search index, kept up with the messages after they are acknowledged. */
  private readonly search: SearchIndex;

  /**
   * Opens (creating on first use) group `name`'s store `<dataDir>/<name>.db` and its high-water
   * mark `<name>.hwm`, in the spelling the group's files already have if it has some (names that
   * differ only in case are one: spelling.ts); the store's `name` is that spelling. A database that is missing or empty while its mark exists, holds another id
   * than the mark, or ends before the mark is refused (a StoreError naming the files and how to
   * recover) unless `options.acceptLoss`; a damaged one is refused naming the file.
   */
  static open(dataDir: string, asked: string, options: SqliteOpenOptions = {}): SqliteGroupStore {
    const name = storeSpelling(dataDir, asked);
    // Only members may read a group: its files are the server owner's alone (SQLite gives the
    // -wal and -shm files the mode of the database file).
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const file = join(dataDir, `${name}.db`);
    const markFile = join(dataDir, `${name}.hwm`);
    const mark = readMark(markFile);
    if (mark !== undefined && (fileSize(file) ?? 0) === 0 && options.acceptLoss !== true) {
      const state = fileSize(file) === undefined ? "is missing" : "is empty (0 bytes)";
      throw new StoreError(
        `${file} ${state}, but its high-water mark ${markFile} says group "${name}" (id ${mark.id}) had messages up to seq ${mark.seq}: the group is not re-created empty; ${recovery(file, name, options)}`,
      );
    }
    const made = [
      ...(fileSize(file) === undefined ? [file] : []),
      ...(mark === undefined && fileSize(markFile) === undefined ? [markFile] : []),
    ];
    closeSync(openSync(file, "a", 0o600));
    for (const f of [file, `${file}-wal`, `${file}-shm`]) {
      try {
        if ((statSync(f).mode & 0o077) !== 0) chmodSync(f, 0o600); // made by an older gm, 0644
      } catch {
        // -wal and -shm exist only while a server has the file open.
      }
    }
    let store: SqliteGroupStore;
    try {
      store = new SqliteGroupStore(file, name, mark, markFile, options);
    } catch (err) {
      // A refused open creates nothing: the empty file made for it goes again.
      if (made.includes(file)) removeFiles([file, `${file}-wal`, `${file}-shm`]);
      throw err;
    }
    store.made = made;
    return store;
  }

  /** The files open() created (a new group's database and mark), which discard() removes. */
  private made: readonly string[] = [];

  async discard(): Promise<void> {
    await this.close();
    const files = this.made.includes(this.file) ? [this.file, `${this.file}-wal`, `${this.file}-shm`] : [];
    removeFiles([...files, ...this.made.filter((f) => f !== this.file)]);
    this.made = [];
  }

  private constructor(
    readonly file: string,
    readonly name: string,
    markState: MarkState | undefined,
    markFile: string,
    options: SqliteOpenOptions,
  ) {
    const opened = openDatabase(file, name, markState, markFile, options);
    this.db = opened.db;
    const { id, created } = opened;
    this.id = id;
    this.createdAt = created;
    try {
      this.stmt = this.prepare();
      this.loadState();
    } catch (err) {
      this.db.close();
      throw storeFailure(file, err, name);
    }
    this.runBatch = this.db.transaction((batch: Op[]) => {
      for (const op of batch) op.result = op.apply();
    });
    this.lastSeq = opened.lastSeq;
    this.lastTs = opened.lastTs;
    this.durable = this.lastSeq;
    this.search = new SearchIndex(
      this.db,
      () => this.lastSeq,
      () => !this.closed && this.sync?.failed === undefined,
    );
    // What a crash left unindexed (or a store filled from outside): indexed before serving.
    this.search.background();
    // Make the database and its WAL durable as directory entries, then keep a descriptor on the
    // WAL (which lives as long as our exclusive connection) to fdatasync after each batch.
    const walFd = openSync(`${file}-wal`, "r");
    this.walFd = walFd;
    fsyncSync(walFd);
    const dirFd = openSync(dirname(file), "r");
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    // The mark follows the database: made for a store that has none (new, or from an older gm),
    // moved up if the database is past it (a crash between the WAL's sync and the mark's), reset
    // to the database's identity after an accepted loss.
    const state = { id, seq: this.lastSeq };
    if (markState === undefined || markState.id !== id) this.mark = HighWaterMark.create(markFile, state);
    else {
      this.mark = HighWaterMark.hold(markFile, markState);
      this.mark.note(this.lastSeq);
    }
    const mark = this.mark;
    if (!opened.marked) {
      // Only now that the mark file exists (synced): a crash before this write leaves a store
      // without the record, which the next open treats as one that never had a mark.
      try {
        this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('marked', '1')").run();
      } catch (err) {
        // On a full disk the record waits for the next open; the mark itself is in place.
        if (!isDiskFull(err)) {
          closeSync(walFd);
          this.mark.close();
          this.db.close();
          throw storeFailure(file, err, name);
        }
      }
    }
    // Each sync makes the WAL durable, then writes the seq it covered into the mark, and only then
    // are the batches acknowledged: the mark is never past the database, never behind an ack.
    this.sync = new SyncPolicy({
      target: {
        syncNow: () => {
          const seq = this.lastSeq;
          fdatasyncSync(walFd);
          mark.note(seq);
        },
        syncOnPool: (done) => {
          const seq = this.lastSeq;
          fdatasync(walFd, (err) => {
            if (err === null) mark.note(seq);
            done(err);
          });
        },
      },
      failure: (cause) => {
        const detail = cause instanceof Error ? cause.message : String(cause);
        return new StoreError(
          `the store for "${name}" stopped taking writes after a failed disk sync (${detail}); restart the group server`,
        );
      },
      ...(options.loopSyncMaxMs !== undefined && { loopSyncMaxMs: options.loopSyncMaxMs }),
    });
  }

  private prepare() {
    return {
      insert: this.db.prepare(
        "INSERT INTO messages (seq, id, ts, user, name, text) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
      ),
      byId: this.db.prepare<[Buffer], { seq: number; ts: number }>("SELECT seq, ts FROM messages WHERE id = ?"),
      join: this.db.prepare(
        "INSERT INTO members (user, name, joined) VALUES (?, ?, ?) ON CONFLICT (user) DO UPDATE SET name = excluded.name",
      ),
      leave: this.db.prepare("DELETE FROM members WHERE user = ?"),
      setMeta: this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"),
      bar: this.db.prepare("INSERT OR IGNORE INTO barred (user) VALUES (?)"),
      unbar: this.db.prepare("DELETE FROM barred WHERE user = ?"),
      invite: this.db.prepare("INSERT OR IGNORE INTO invites (entry) VALUES (?)"),
      uninvite: this.db.prepare("DELETE FROM invites WHERE entry = ?"),
      forward: this.db
        .prepare<[number, number, number], string>(
          `SELECT ${MESSAGE_JSON} FROM messages WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?`,
        )
        .pluck(),
      // The ts of the newest message at or below a seq (an accepted loss leaves seqs without one).
      tsAtOrBelow: this.db.prepare<[number], { ts: number }>(
        "SELECT ts FROM messages WHERE seq <= ? ORDER BY seq DESC LIMIT 1",
      ),
      backward: this.db
        .prepare<[number, number, number], string>(
          `SELECT ${MESSAGE_JSON} FROM messages WHERE seq > ? AND seq <= ? ORDER BY seq DESC LIMIT ?`,
        )
        .pluck(),
      // FTS5 walks its index by rowid (= seq) downwards and stops at the LIMIT; each hit is then
      // one lookup in messages by its primary key.
      search: this.db
        .prepare<[string, number, number, number], string>(
          `SELECT ${messageJsonSql("m.")} FROM messages_fts f JOIN messages m ON m.seq = f.rowid
           WHERE messages_fts MATCH ? AND f.rowid > ? AND f.rowid <= ? ORDER BY f.rowid DESC LIMIT ?`,
        )
        .pluck(),
      count: this.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM messages"),
    };
  }

  get durableSeq(): number {
    return this.durable;
  }

  syncCounts(): SyncCounts {
    return { ...this.sync.counts, markSyncs: this.mark.syncs };
  }

  get members(): ReadonlyMap<string, Member> {
    return this.memberMap;
  }

  get owner(): string | undefined {
    return this.ownerId;
  }

  get inviteOnly(): boolean {
    return this.inviteOnlyFlag;
  }

  get barred(): ReadonlySet<string> {
    return this.barredSet;
  }

  get invites(): ReadonlySet<string> {
    return this.inviteSet;
  }

  join(user: string, name: string): Promise<{ joined: boolean; refused?: Refusal }> {
    return this.write(() => {
      const { refused, consume } = admit(this, user);
      if (refused !== undefined) return { joined: false, refused };
      if (consume !== undefined) {
        this.stmt.uninvite.run(consume);
        this.stmt.invite.run(user);
        this.inviteSet.delete(consume);
        this.inviteSet.add(user);
      }
      const existing = this.memberMap.get(user);
      const joined = existing?.joined ?? Date.now();
      this.stmt.join.run(user, name, joined);
      this.memberMap.set(user, { user, name, joined });
      return { joined: existing === undefined };
    });
  }

  leave(user: string): Promise<{ left: boolean }> {
    return this.write(() => {
      const left = this.stmt.leave.run(user).changes > 0;
      this.memberMap.delete(user);
      return { left };
    });
  }

  setOwner(user: string, onlyIfNone = false): Promise<{ owner: string }> {
    return this.write(() => {
      if (!onlyIfNone || this.ownerId === undefined) {
        this.stmt.setMeta.run("owner", user);
        this.stmt.unbar.run(user);
        this.ownerId = user;
        this.barredSet.delete(user);
      }
      return { owner: this.ownerId as string };
    });
  }

  setInviteOnly(on: boolean): Promise<{ changed: boolean }> {
    return this.write(() => {
      const changed = this.inviteOnlyFlag !== on;
      this.stmt.setMeta.run("invite_only", on ? "1" : "0");
      this.inviteOnlyFlag = on;
      return { changed };
    });
  }

  bar(user: string): Promise<{ barred: boolean }> {
    return this.write(() => {
      this.stmt.leave.run(user);
      this.memberMap.delete(user);
      this.dropInvites(user);
      const barred = this.stmt.bar.run(user).changes > 0;
      this.barredSet.add(user);
      return { barred };
    });
  }

  unbar(user: string): Promise<{ unbarred: boolean }> {
    return this.write(() => {
      const unbarred = this.stmt.unbar.run(user).changes > 0;
      this.barredSet.delete(user);
      return { unbarred };
    });
  }

  invite(entry: string): Promise<{ invited: boolean }> {
    return this.write(() => {
      const invited = this.stmt.invite.run(entry).changes > 0;
      this.inviteSet.add(entry);
      return { invited };
    });
  }

  uninvite(user: string): Promise<{ dropped: number }> {
    return this.write(() => ({ dropped: this.dropInvites(user) }));
  }

  /** Inside a write: deletes the invites that name `user`. */
  private dropInvites(user: string): number {
    let dropped = 0;
    for (const entry of [...this.inviteSet]) {
      if (!inviteNames(entry, user)) continue;
      this.stmt.uninvite.run(entry);
      this.inviteSet.delete(entry);
      dropped++;
    }
    return dropped;
  }

  append(message: { id: string; user: string; name: string; text: string }): Promise<AppendResult> {
    const idBytes = Buffer.from(uuidParse(message.id));
    return this.write(() => {
      const seq = this.lastSeq + 1;
      const ts = Math.max(Date.now(), this.lastTs);
      if (this.stmt.insert.run(seq, idBytes, ts, message.user, message.name, message.text).changes === 0) {
        // The id is already stored: a retried send. Answer with the original.
        const existing = this.stmt.byId.get(idBytes) as { seq: number; ts: number };
        return { seq: existing.seq, ts: existing.ts, duplicate: true };
      }
      this.lastSeq = seq;
      this.lastTs = ts;
      return { seq, ts, duplicate: false };
    });
  }

  /** historyJson()'s page as objects (for tests and tools; the server sends the JSON text). */
  history(query: HistoryQuery): HistoryPage {
    const page = this.historyJson(query);
    return { messages: JSON.parse(page.messages), more: page.more };
  }

  /**
   * One page of durable messages, oldest first, as JSON text made by SQLite: half the CPU of
   * building row objects and stringifying them (bench/experiments/history-micro.ts: ~320 -> ~165 us for
   * 100 messages).
   */
  historyJson(query: HistoryQuery): HistoryPageJson {
    // A page may be the first read of an old part of the file: a damaged one fails here, not at open.
    try {
      return this.readPage(query);
    } catch (err) {
      throw storeFailure(this.file, err);
    }
  }

  private readPage(query: HistoryQuery): HistoryPageJson {
    // Rows are read one at a time and the statement stops at the byte budget: a page of big
    // messages never builds more rows than fit in one reply.
    const limit = query.limit + 1;
    const [lo, hi] = this.range(query);
    if (query.before !== undefined) {
      const page = fillPage(this.stmt.backward.iterate(lo, hi, limit), query.limit, query.maxBytes);
      return { messages: `[${page.rows.reverse().join(",")}]`, more: page.more };
    }
    const page = fillPage(this.stmt.forward.iterate(lo, hi, limit), query.limit, query.maxBytes);
    return { messages: `[${page.rows.join(",")}]`, more: page.more };
  }

  /** One page of a search, newest first, from the FTS5 index (migration 4). */
  searchJson(query: SearchQuery): HistoryPageJson {
    try {
      if (this.search.waiting > 0 && !this.closed) this.indexForSearch();
      const [lo, hi] = this.range(query);
      const rows = this.stmt.search.iterate(ftsQuery(query.words), lo, hi, query.limit + 1);
      const page = fillPage(rows, query.limit, query.maxBytes);
      return { messages: `[${page.rows.join(",")}]`, more: page.more };
    } catch (err) {
      throw storeFailure(this.file, err);
    }
  }

  /**
   * Indexes the messages a search must see. On a full disk (or after a failed sync) it searches
   * the index as it is: the newest messages are found once there is room.
   */
  private indexForSearch(): void {
    if (this.sync.failed !== undefined) return;
    try {
      this.search.catchUp();
    } catch (err) {
      if (!isDiskFull(err)) throw err;
    }
  }

  /**
   * The durable seqs a query selects, as the range lo < seq <= hi: the cursors as they are, the
   * time bounds turned into seqs by bisection (ts never decreases as seq grows).
   */
  private range(query: Omit<HistoryQuery, "limit">): [number, number] {
    let lo = query.after ?? 0;
    if (query.since !== undefined) lo = Math.max(lo, this.lastBefore(query.since));
    let hi = this.durable;
    if (query.before !== undefined) hi = Math.min(hi, query.before - 1);
    if (query.until !== undefined) hi = Math.min(hi, this.lastBefore(query.until));
    return [lo, Math.max(lo, hi)];
  }

  /**
   * The highest durable seq whose ts is before `time` (0 if none), counting a seq without a
   * message (an accepted loss's gap) as having its predecessor's ts: seqs grow with ts, so a
   * bisection over seq finds it in ~20 lookups for a million messages.
   */
  private lastBefore(time: number): number {
    let lo = 0; // ts(lo) < time, taking ts(0) as -infinity
    let hi = this.durable + 1; // ts(hi) >= time, taking ts(durable + 1) as +infinity
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      const ts = this.stmt.tsAtOrBelow.get(mid)?.ts;
      if (ts === undefined || ts < time) lo = mid;
      else hi = mid;
    }
    return lo;
  }

  /** The number of stored messages, counted in the database (for tests and tools). */
  count(): number {
    try {
      return this.stmt.count.get()?.n ?? 0;
    } catch (err) {
      throw storeFailure(this.file, err);
    }
  }

  /** Queues a write for the next batch; resolves once the batch is on disk. */
  private write<T>(apply: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError(`the store for "${this.name}" is closed`));
    const failed = this.sync.failed;
    if (failed !== undefined) return Promise.reject(failed);
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ apply, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.commit());
      }
    });
  }

  /**
   * Runs every queued write in one transaction, then hands the batch to the sync policy. Writes are
   * built not to fail on their own (duplicates are answered, not refused), so a failure here is
   * the database's (disk full, I/O error): the whole batch is rolled back and refused.
   */
  private commit(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    const seqBefore = this.lastSeq;
    const tsBefore = this.lastTs;
    try {
      this.runBatch(batch);
    } catch (err) {
      this.lastSeq = seqBefore;
      this.lastTs = tsBefore;
      // A damaged page met by the batch (or by reading the state back) is refused naming the file.
      let refusal = isDiskFull(err) ? storageFull(this.name, this.file, err) : storeFailure(this.file, err);
      try {
        this.loadState();
      } catch (reload) {
        refusal = storeFailure(this.file, reload);
      }
      for (const op of batch) op.reject(refusal);
      return;
    }
    this.sync.committed(new Batch(this.reach, this.lastSeq, batch));
    this.search.stored();
  }

  /** Reads members and moderation from the database (at open, and after a batch failed to commit). */
  private loadState(): void {
    this.memberMap.clear();
    for (const m of this.db.prepare<[], Member>("SELECT user, name, joined FROM members").all()) {
      this.memberMap.set(m.user, m);
    }
    const meta = this.db.prepare<[string], { value: string }>("SELECT value FROM meta WHERE key = ?");
    this.ownerId = meta.get("owner")?.value;
    this.inviteOnlyFlag = meta.get("invite_only")?.value === "1";
    this.barredSet.clear();
    for (const user of this.db.prepare<[], string>("SELECT user FROM barred").pluck().all()) this.barredSet.add(user);
    this.inviteSet.clear();
    for (const entry of this.db.prepare<[], string>("SELECT entry FROM invites").pluck().all())
      this.inviteSet.add(entry);
  }

  /** Finishes queued writes, makes them durable, and closes the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.queue.length > 0) this.commit();
    this.closed = true;
    if (this.sync.busy) await this.sync.idle();
    // Leave the index complete (the next open would do it otherwise).
    if (this.sync.failed === undefined) {
      try {
        this.search.catchUp();
      } catch {
        // A full disk: the next open indexes the rest.
      }
    }
    this.search.cancel();
    try {
      closeSync(this.walFd);
    } catch {
      // Already unusable (the failed sync that broke the store may have been this descriptor's).
    }
    this.mark.close();
    this.db.close();
  }
}

/** A file's size in bytes, undefined if it does not exist. */
function fileSize(file: string): number | undefined {
  try {
    return statSync(file).size;
  } catch {
    return undefined;
  }
}

/** Deletes `files`, those that exist. */
function removeFiles(files: readonly string[]): void {
  for (const f of files) rmSync(f, { force: true });
}
