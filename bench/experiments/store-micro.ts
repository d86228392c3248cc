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
 *   real        SqliteGroupStore.append() itself, batches awaited (includes the fdatasync, and
 *               the search index's own transactions, search-index.ts)
 *
 * And what the search index (FTS5, migration 4) costs, on the upsert path:
 *
 *   +index      each message also inserted into messages_fts in the batch's transaction (FTS5
 *               then writes an index segment at every commit)
 *   +chunks     messages_fts filled from messages in a transaction of its own every 256 messages,
 *               as search-index.ts does
 *
 * `--words N` makes each text N words of a 10,000-word vocabulary (~100 bytes at 15), as chat is;
 * 0 (the default) is 100 x's, which the index takes as one word. Each row gives the wall time and
 * the CPU time of the process per message (the CPU time moves less when the machine is busy).
 *
 *   node --import tsx bench/experiments/store-micro.ts [--messages 100000] [--batch 100] [--words 15]
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { parse as uuidParse, v4 as uuidv4, v7 as uuidv7 } from "uuid";
import { SqliteGroupStore } from "../../src/store/sqlite.js";

const { values } = parseArgs({
  options: {
    messages: { type: "string", default: "100000" },
    batch: { type: "string", default: "100" },
    words: { type: "string", default: "0" },
  },
});
const N = Number.parseInt(values.messages, 10);
const BATCH = Number.parseInt(values.batch, 10);
const WORDS = Number.parseInt(values.words, 10);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gm-store-micro-"));
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
const user = uuidv4();
// Texts drawn by a seeded generator from 10,000 pseudo-words of 3 to 9 letters, the same in every run.
let seed = 42;
const random = (): number => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
};
const letters = () => String.fromCharCode(97 + Math.floor(random() * 26));
const vocabulary = Array.from({ length: 10_000 }, () =>
  Array.from({ length: 3 + Math.floor(random() * 7) }, letters).join(""),
);
const texts =
  WORDS > 0
    ? Array.from({ length: 1000 }, () =>
        Array.from({ length: WORDS }, () => vocabulary[Math.floor(random() * vocabulary.length)]).join(" "),
      )
    : ["x".repeat(100)];
let nextText = 0;
const textOf = (): string => texts[nextText++ % texts.length] as string;

async function open(name: string): Promise<Database.Database> {
  // Let the real store create the file (schema, meta), then reopen it as the store does.
  await SqliteGroupStore.open(dir, name).close();
  const db = new Database(path.join(dir, `${name}.db`));
  db.pragma("locking_mode = EXCLUSIVE");
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  return db;
}

type Variant = "current" | "cached" | "nosavepoint" | "upsert" | "upsert+index" | "upsert+chunks";

let runs = 0;
async function run(variant: Variant): Promise<{ us: number; cpuUs: number }> {
  const db = await open(`${variant}-${runs++}`);
  const insert = db.prepare("INSERT INTO messages (seq, id, ts, user, name, text) VALUES (?, ?, ?, ?, ?, ?)");
  const upsert = db.prepare(
    "INSERT INTO messages (seq, id, ts, user, name, text) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
  );
  const byId = db.prepare("SELECT seq, ts FROM messages WHERE id = ?");
  const index = db.prepare("INSERT INTO messages_fts (rowid, text) VALUES (?, ?)");
  const indexFrom = db.prepare(
    "INSERT INTO messages_fts (rowid, text) SELECT seq, text FROM messages WHERE seq > ? AND seq <= ?",
  );
  let indexed = 0;
  let lastSeq = 0;
  const apply = (idBytes: Buffer) => (): unknown => {
    const text = textOf();
    if (variant.startsWith("upsert")) {
      const seq = lastSeq + 1;
      const ts = Date.now();
      if (upsert.run(seq, idBytes, ts, user, "bench", text).changes === 0) {
        const e = byId.get(idBytes) as { seq: number; ts: number };
        return { seq: e.seq, ts: e.ts, duplicate: true };
      }
      if (variant === "upsert+index") index.run(seq, text);
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
  const chunk = db.transaction((to: number) => indexFrom.run(indexed, to));
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  for (let done = 0; done < N; done += BATCH) {
    const ops = Array.from({ length: Math.min(BATCH, N - done) }, () => apply(Buffer.from(uuidParse(uuidv7()))));
    db.transaction(() => {
      for (const op of ops) {
        if (variant === "current") db.transaction(op)();
        else if (variant === "cached") savepoint(op);
        else op();
      }
    })();
    if (variant === "upsert+chunks" && (lastSeq - indexed >= 256 || done + BATCH >= N)) {
      chunk(lastSeq);
      indexed = lastSeq;
    }
  }
  const us = Number(process.hrtime.bigint() - t0) / 1000 / N;
  const cpu = process.cpuUsage(cpu0);
  db.close();
  return { us, cpuUs: (cpu.user + cpu.system) / N };
}

async function real(): Promise<{ us: number; cpuUs: number }> {
  const store = SqliteGroupStore.open(dir, "real");
  await store.join(user, "bench");
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  for (let done = 0; done < N; done += BATCH) {
    const n = Math.min(BATCH, N - done);
    await Promise.all(
      Array.from({ length: n }, () => store.append({ id: uuidv7(), user, name: "bench", text: textOf() })),
    );
  }
  const us = Number(process.hrtime.bigint() - t0) / 1000 / N;
  const cpu = process.cpuUsage(cpu0);
  await store.close();
  return { us, cpuUs: (cpu.user + cpu.system) / N };
}

const shape = WORDS > 0 ? `texts of ${WORDS} words (~${texts[0]?.length} bytes)` : "texts of 100 x's";
console.log(`${N} messages in batches of ${BATCH}, ${shape} (uuid v7 generation included, ~0.5 us)`);
const row = (name: string, r: { us: number; cpuUs: number }, what: string) =>
  console.log(`${name.padEnd(14)} ${r.us.toFixed(2)} us/message (${what}; ${r.cpuUs.toFixed(2)} us of CPU)`);
for (const v of [
  "current",
  "cached",
  "nosavepoint",
  "upsert",
  "upsert+index",
  "upsert+chunks",
  "upsert",
  "current",
] as Variant[]) {
  row(v, await run(v), "event loop, no fsync");
}
row("real", await real(), "SqliteGroupStore.append, with fdatasync per batch, wall");
