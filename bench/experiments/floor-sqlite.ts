/**
 * The protocol floor's SQLite storage (protocol-floor.ts `sqlite` and `rpc-sqlite`, and
 * handler-micro.ts): gm's `messages` table in a file the real store created, opened as the store
 * opens it (WAL, synchronous=NORMAL, exclusive lock); each batch inserted in one transaction, then
 * the WAL fdatasync'ed. No duplicates check, no search index, no high-water mark: the least a
 * server storing gm's rows can do.
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { parse as uuidParse } from "uuid";
import { SqliteGroupStore } from "../../src/store/sqlite.js";

export interface FloorRow {
  readonly seq: number;
  readonly id: string;
  readonly ts: number;
  readonly user: string;
  readonly text: string;
}

export interface FloorStore {
  /** Inserts the batch in one transaction and fdatasyncs the WAL. */
  store(batch: readonly FloorRow[]): void;
  close(): void;
}

/** Opens group `name`'s file in `dir` (created by SqliteGroupStore first) for floor writes. */
export async function openFloorStore(dir: string, name: string): Promise<FloorStore> {
  fs.mkdirSync(dir, { recursive: true });
  await SqliteGroupStore.open(dir, name).close();
  const file = path.join(dir, `${name}.db`);
  const db = new Database(file);
  db.pragma("locking_mode = EXCLUSIVE");
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  const insert = db.prepare("INSERT INTO messages (seq, id, ts, user, name, text) VALUES (?, ?, ?, ?, ?, ?)");
  const commit = db.transaction((batch: readonly FloorRow[]) => {
    for (const r of batch) insert.run(r.seq, Buffer.from(uuidParse(r.id)), r.ts, r.user, name, r.text);
  });
  commit([]);
  const walFd = fs.openSync(`${file}-wal`, "r");
  return {
    store(batch) {
      commit(batch);
      fs.fdatasyncSync(walFd);
    },
    close() {
      fs.closeSync(walFd);
      db.close();
    },
  };
}
