import { constants, copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { type MarkState, readMark } from "./mark.js";
import { storeSpelling } from "./spelling.js";

/** One finding of checkStore: `ok` false is a problem. */
export interface CheckLine {
  readonly ok: boolean;
  readonly text: string;
}

export interface CheckReport {
  readonly ok: boolean;
  /** The store is being served (a group server holds its lock), so it was not checked. */
  readonly inUse: boolean;
  /** There is no store of that name in the data dir (nor a mark): a mistyped --name or --data-dir. */
  readonly missing: boolean;
  readonly lines: readonly CheckLine[];
}

/** SQLite's answers that mean another connection holds the file's lock. */
const LOCKED = new Set(["SQLITE_BUSY", "SQLITE_LOCKED"]);

/**
 * Whether a group server holds `file` (it keeps an exclusive lock for as long as it serves).
 * Asked without creating anything beside the file: a read-only connection in exclusive locking
 * mode first takes the shared lock (SQLITE_BUSY if a server holds the file) and then fails to take
 * the exclusive one on its read-only descriptor, before it would open or make a -wal or -shm file.
 */
function heldByServer(file: string): boolean {
  let probe: Database.Database | undefined;
  try {
    probe = new Database(file, { readonly: true, fileMustExist: true, timeout: 0 });
    probe.pragma("locking_mode = EXCLUSIVE");
    probe.prepare("SELECT 1 FROM sqlite_master LIMIT 1").get();
    return false;
  } catch (err) {
    return LOCKED.has(String((err as { code?: unknown }).code));
  } finally {
    probe?.close();
  }
}

/**
 * `gm group --check`: reads group `name`'s store in `dataDir` without changing or creating
 * anything there and reports on SQLite's integrity check and gm's own invariants: the group's
 * identity, seqs 1..N without holes (but the gaps an accepted loss recorded), message ids unique
 * 16-byte values, ts never decreasing, and the high-water mark matching the database.
 *
 * SQLite cannot read a database with a -wal file without a -shm file beside it, which even a
 * read-only connection would create; so the check reads a private copy of the database and its
 * -wal in the temp dir, removed afterwards. A store being served is not read at all (its server
 * holds the lock, and a copy taken under a writer could be torn): it is reported as in use.
 */
export function checkStore(dataDir: string, asked: string): CheckReport {
  const name = storeSpelling(dataDir, asked);
  const file = join(dataDir, `${name}.db`);
  const markFile = join(dataDir, `${name}.hwm`);
  const lines: CheckLine[] = [];
  const good = (text: string) => lines.push({ ok: true, text });
  const bad = (text: string) => lines.push({ ok: false, text });
  let inUse = false;
  let missing = false;
  const done = () => ({ ok: lines.every((l) => l.ok), inUse, missing, lines });

  if (!existsSync(dataDir)) {
    missing = true;
    bad(`there is no data dir ${dataDir}, so no store of group "${name}": check --data-dir`);
    return done();
  }
  if (!existsSync(file) && !existsSync(markFile)) {
    missing = true;
    bad(
      `there is no store of group "${name}" in ${dataDir} (no ${name}.db, no ${name}.hwm): check --name and --data-dir`,
    );
    return done();
  }

  let mark: MarkState | undefined;
  let markDamaged = false;
  try {
    mark = readMark(markFile);
    if (mark !== undefined) good(`${markFile}: group ${mark.id}, acknowledged up to seq ${mark.seq}`);
  } catch (err) {
    markDamaged = true;
    bad((err as Error).message);
  }
  let size: number | undefined;
  try {
    size = statSync(file).size;
  } catch {
    size = undefined;
  }
  if (size === undefined || size === 0) {
    const state = size === undefined ? "is missing" : "is empty (0 bytes)";
    if (mark !== undefined) bad(`${file} ${state}, but the mark says the group had messages up to seq ${mark.seq}`);
    else good(`${file} ${state}: a new group would be created`);
    return done();
  }

  if (heldByServer(file)) {
    inUse = true;
    bad(`${file} is in use: a running group server holds it, so it was not checked; stop that server first`);
    return done();
  }
  let copyDir: string;
  try {
    copyDir = mkdtempSync(join(tmpdir(), "gm-check-"));
  } catch (err) {
    bad(`cannot make a temp dir to check a copy of ${file} in: ${(err as Error).message}`);
    return done();
  }
  try {
    const copy = join(copyDir, "store.db");
    try {
      copyFileSync(file, copy, constants.COPYFILE_FICLONE);
      if (existsSync(`${file}-wal`)) copyFileSync(`${file}-wal`, `${copy}-wal`, constants.COPYFILE_FICLONE);
    } catch (err) {
      bad(`cannot copy ${file} to ${copyDir} to check it: ${(err as Error).message} (set TMPDIR to a dir with room)`);
      return done();
    }
    // A server that started while the files were copied may have written to them meanwhile.
    if (heldByServer(file)) {
      inUse = true;
      bad(`${file} is in use: a group server started while it was being checked; stop that server first`);
      return done();
    }
    checkCopy(copy, { file, markFile, name, mark, markDamaged }, good, bad);
  } finally {
    rmSync(copyDir, { recursive: true, force: true });
  }
  return done();
}

/** The SQLite and gm checks, on the private copy `copy` of the store `file`. */
function checkCopy(
  copy: string,
  store: { file: string; markFile: string; name: string; mark: MarkState | undefined; markDamaged: boolean },
  good: (text: string) => void,
  bad: (text: string) => void,
): void {
  const { file, markFile, name, mark } = store;
  let db: Database.Database;
  try {
    db = new Database(copy, { readonly: true, fileMustExist: true, timeout: 0 });
  } catch (err) {
    bad(`${file}: cannot open: ${(err as Error).message}`);
    return;
  }
  try {
    const problems = db.pragma("integrity_check(20)", { simple: false }) as Array<{ integrity_check: string }>;
    const texts = problems.map((p) => p.integrity_check);
    if (texts.length === 1 && texts[0] === "ok") good(`${file}: SQLite integrity check ok`);
    else for (const t of texts) bad(`${file}: SQLite integrity check: ${t}`);

    const tables = new Set(db.prepare<[], string>("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all());
    if (!tables.has("meta") || !tables.has("messages")) {
      const lost = `${file} holds no group: its tables were lost (they were only in ${file}-wal, which is missing, cut or zeroed?)`;
      if (mark === undefined) bad(lost);
      else bad(`${lost}, but ${markFile} says group "${name}" (id ${mark.id}) had messages up to seq ${mark.seq}`);
      return;
    }
    const meta = db.prepare<[string], { value: string }>("SELECT value FROM meta WHERE key = ?");
    const id = meta.get("id")?.value;
    const held = meta.get("name")?.value;
    if (held !== name) bad(`${file} holds group "${held ?? "(none)"}", not "${name}"`);
    if (id === undefined) bad(`${file} has no group id`);
    else good(`group "${name}", id ${id}`);
    if (mark === undefined && !store.markDamaged && meta.get("marked")?.value === "1") {
      bad(
        `${markFile} is missing, but ${file} had one: acknowledged messages past the database's last seq may have been lost with it`,
      );
    } else if (mark === undefined && !store.markDamaged) good(`${markFile}: none (made by the next start)`);

    const gaps = JSON.parse(meta.get("gaps")?.value ?? "[]") as Array<[number, number]>;
    const floor = Number(meta.get("seq_floor")?.value ?? 0);
    const stats = db
      .prepare<[], { n: number; lo: number | null; hi: number | null }>(
        "SELECT count(*) AS n, min(seq) AS lo, max(seq) AS hi FROM messages",
      )
      .get() as { n: number; lo: number | null; hi: number | null };
    const inGap = (seq: number) => gaps.some(([a, b]) => seq >= a && seq <= b);
    // Each message whose successor is missing starts a hole, unless the hole is a recorded gap.
    const holeStarts = db
      .prepare<[], number>(
        "SELECT m.seq + 1 FROM messages m WHERE m.seq < (SELECT max(seq) FROM messages) AND NOT EXISTS (SELECT 1 FROM messages n WHERE n.seq = m.seq + 1) UNION ALL SELECT 1 WHERE (SELECT min(seq) FROM messages) > 1",
      )
      .pluck()
      .all()
      .filter((s) => !inGap(s));
    if (stats.n === 0) good("no messages yet");
    else if (holeStarts.length === 0)
      good(`${stats.n} message${stats.n === 1 ? "" : "s"}, seq ${stats.lo}..${stats.hi} without holes`);
    else bad(`seqs have holes starting at ${holeStarts.slice(0, 10).join(", ")}${holeStarts.length > 10 ? ", …" : ""}`);
    for (const [a, b] of gaps) good(`seqs ${a}..${b} are a gap recorded when a loss was accepted`);

    const ids = db
      .prepare<[], { dup: number; odd: number }>(
        "SELECT count(*) - count(DISTINCT id) AS dup, sum(typeof(id) != 'blob' OR length(id) != 16) AS odd FROM messages",
      )
      .get() as { dup: number; odd: number | null };
    if (ids.dup === 0 && (ids.odd ?? 0) === 0) good("message ids unique");
    else bad(`message ids: ${ids.dup} duplicated, ${ids.odd ?? 0} not 16-byte uuids`);

    const back = db
      .prepare<[], number>("SELECT count(*) FROM messages a JOIN messages b ON b.seq = a.seq + 1 WHERE b.ts < a.ts")
      .pluck()
      .get() as number;
    if (back === 0) good("timestamps never decrease");
    else bad(`${back === 1 ? "1 message has" : `${back} messages have`} an earlier ts than the one before`);

    const version = db.pragma("user_version", { simple: true }) as number;
    checkSearchIndex(copy, file, { present: tables.has("messages_fts"), due: version >= 4 }, good, bad);

    const last = Math.max(stats.hi ?? 0, floor);
    if (mark !== undefined && id !== undefined) {
      if (mark.id !== id) bad(`the mark's group id ${mark.id} is not the database's ${id}: the database was replaced`);
      else if (last < mark.seq)
        bad(
          `the database ends at seq ${last}, behind the mark (${mark.seq}): ${mark.seq - last === 1 ? "1 acknowledged message is" : `${mark.seq - last} acknowledged messages are`} missing`,
        );
      else good(`the database is not behind the mark (seq ${last} >= ${mark.seq})`);
    }
  } catch (err) {
    const code = String((err as { code?: unknown }).code);
    const detail = (err as Error).message;
    if (code.startsWith("SQLITE_CORRUPT") || code === "SQLITE_NOTADB") bad(`${file}: the file is damaged (${detail})`);
    else bad(`${file}: ${detail}`);
  } finally {
    db.close();
  }
}

/**
 * The search index (sqlite.ts's migration 4) against the messages: FTS5's own integrity check,
 * which also re-reads every text and compares (SQLite's integrity_check does not). It is a
 * write command to FTS5 (and the messages not indexed yet are indexed first), so it runs on a
 * writable connection to the private copy.
 */
function checkSearchIndex(
  copy: string,
  file: string,
  index: { readonly present: boolean; readonly due: boolean },
  good: (text: string) => void,
  bad: (text: string) => void,
): void {
  if (!index.present) {
    if (index.due) bad(`${file} has no search index (messages_fts), though its schema version has one`);
    else good("no search index yet (made when a gm with search next opens the store)");
    return;
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(copy, { fileMustExist: true, timeout: 0 });
    const indexed = db.prepare<[], string>("SELECT value FROM meta WHERE key = 'indexed'").pluck().get();
    if (indexed === undefined) {
      bad(`${file} has a search index but no record of how far it reaches (meta "indexed")`);
      return;
    }
    // The newest messages may wait for the index (search-index.ts): indexed here, in the copy, as
    // the group server would at its next start, so that the check covers every message.
    const waiting = db
      .prepare("INSERT INTO messages_fts (rowid, text) SELECT seq, text FROM messages WHERE seq > ?")
      .run(Number(indexed)).changes;
    db.prepare("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)").run();
    good(
      waiting === 0
        ? "search index matches the messages"
        : `search index matches the messages (the newest ${waiting} wait to be indexed: the group server does it when it starts)`,
    );
  } catch (err) {
    bad(
      `${file}: the search index does not match the messages (${(err as Error).message}): searches may miss messages or fail; with the group server stopped, rebuild it: sqlite3 ${file} "INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')"`,
    );
  } finally {
    db?.close();
  }
}
