/**
 * Micro-benchmark of the group store's write path, CPU only (no fsync): how many microseconds
 * of the event loop one durable SEND costs inside SqliteGroupStore.commit(), and what the
 * alternatives would cost. Same schema (made by the real store), same pragmas, same statements.
 *
 *   current     what src/store/sqlite.ts does: per write `db.transaction(op.apply)()` (a new
 *               transaction wrapper per call = a SAVEPOINT/RELEASE pair plus 4 closures and 4
 *               Object.defineProperties), the byId lookup, then the INSERT
 *   cached      the same savepoint per write, with the wrapper made once
 *   nosavepoint no savepoint: writes run directly in the batch transaction
 *   upsert      nosavepoint + INSERT ... ON CONFLICT (id) DO NOTHING instead of the byId lookup
 *               (only a conflicting id is looked up)
 *   real        SqliteGroupStore.append() itself, batches awaited (includes the fdatasync)
 *
 *   node --import tsx bench/experiments/store-micro.ts [--messages 100000] [--batch 100]
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { parse as uuidParse, v4 as uuidv4, v7 as uuidv7 } from "uuid";
import { SqliteGroupStore } from "../../src/store/sqlite.js";

const { values } = parseArgs({
  options: { messages: { type: "string", default: "100000" }, batch: { type: "string", default: "100" } },
});
const N = Number.parseInt(values.messages, 10);
const BATCH = Number.parseInt(values.batch, 10);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gm-store-micro-"));
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
const user = uuidv4();
const text = "x".repeat(100);

async function open(name: string): Promise<Database.Database> {
  // Let the real store create the file (schema, meta), then reopen it as the store does.
  await SqliteGroupStore.open(dir, name).close();
  const db = new Database(path.join(dir, `${name}.db`));
  db.pragma("locking_mode = EXCLUSIVE");
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  return db;
}

type Variant = "current" | "cached" | "nosavepoint" | "upsert";

let runs = 0;
async function run(variant: Variant): Promise<number> {
  const db = await open(`${variant}-${runs++}`);
  const insert = db.prepare("INSERT INTO messages (seq, id, ts, user, name, text) VALUES (?, ?, ?, ?, ?, ?)");
  const upsert = db.prepare(
    "INSERT INTO messages (seq, id, ts, user, name, text) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
  );
  const byId = db.prepare("SELECT seq, ts FROM messages WHERE id = ?");
  let lastSeq = 0;
  const apply = (idBytes: Buffer) => (): unknown => {
    if (variant === "upsert") {
      const seq = lastSeq + 1;
      const ts = Date.now();
      if (upsert.run(seq, idBytes, ts, user, "bench", text).changes === 0) {
        const e = byId.get(idBytes) as { seq: number; ts: number };
        return { seq: e.seq, ts: e.ts, duplicate: true };
      }
      lastSeq = seq;
      return { seq, ts, duplicate: false };
    }
    const existing = byId.get(idBytes);
    if (existing !== undefined) return { duplicate: true };
    const seq = lastSeq + 1;
    const ts = Date.now();
    insert.run(seq, idBytes, ts, user, "bench", text);
    lastSeq = seq;
    return { seq, ts, duplicate: false };
  };
  const savepoint = db.transaction((f: () => unknown) => f());
  const t0 = process.hrtime.bigint();
  for (let done = 0; done < N; done += BATCH) {
    const ops = Array.from({ length: Math.min(BATCH, N - done) }, () => apply(Buffer.from(uuidParse(uuidv7()))));
    db.transaction(() => {
      for (const op of ops) {
        if (variant === "current") db.transaction(op)();
        else if (variant === "cached") savepoint(op);
        else op();
      }
    })();
  }
  const us = Number(process.hrtime.bigint() - t0) / 1000 / N;
  db.close();
  return us;
}

async function real(): Promise<number> {
  const store = SqliteGroupStore.open(dir, "real");
  await store.join(user, "bench");
  const t0 = process.hrtime.bigint();
  for (let done = 0; done < N; done += BATCH) {
    const n = Math.min(BATCH, N - done);
    await Promise.all(Array.from({ length: n }, () => store.append({ id: uuidv7(), user, name: "bench", text })));
  }
  const us = Number(process.hrtime.bigint() - t0) / 1000 / N;
  await store.close();
  return us;
}

console.log(`${N} messages in batches of ${BATCH} (uuid v7 generation included, ~0.5 us)`);
for (const v of ["current", "cached", "nosavepoint", "upsert", "current"] as Variant[]) {
  console.log(`${v.padEnd(12)} ${(await run(v)).toFixed(2)} us/message (event loop, no fsync)`);
}
console.log(
  `${"real".padEnd(12)} ${(await real()).toFixed(2)} us/message (SqliteGroupStore.append, with fdatasync per batch, wall)`,
);
