/**
 * Fills a group's SQLite file directly, much faster than sending the messages through gm: the
 * file must already exist with gm's schema and meta rows (start and stop `gm group` on it once).
 * Writes `--members` members and `--messages` messages in the store's own schema
 * (src/store/sqlite.ts): messages(seq, id BLOB UNIQUE, ts, user, name, text), as gm would have
 * stored them: seq 1..N, ids uuid v7 (time-ordered, as clients make them), ts increasing and
 * ending now, senders round-robin over the members, texts of exactly 100 bytes.
 *
 *   --db FILE --messages N --members M [--group NAME]
 *
 * synchronous=OFF and no journal while filling (a crash here only loses a benchmark run), in
 * transactions of 50,000 rows; the file is put back in WAL mode at the end, as gm expects.
 * Child protocol: ready -> {}, start <-, result -> { messages, members, elapsedMs }.
 */
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { v4 as uuidv4, v7 as uuidv7 } from "uuid";
import { progress } from "../lib/output.js";
import { runWorker, waitForStart, workerReady, workerResult } from "../lib/worker.js";
import { padText } from "./wire.js";

const { values } = parseArgs({
  options: {
    db: { type: "string" },
    messages: { type: "string", default: "0" },
    members: { type: "string", default: "0" },
    group: { type: "string" },
  },
});

export interface PrefillResult {
  messages: number;
  members: number;
  elapsedMs: number;
}

const BATCH = 50_000;

runWorker(async () => {
  const file = values.db;
  if (file === undefined) throw new Error("--db is required");
  const messages = Number.parseInt(values.messages, 10);
  const memberCount = Math.max(1, Number.parseInt(values.members, 10));
  const db = new Database(file, { fileMustExist: true });
  try {
    const name = (db.prepare("SELECT value FROM meta WHERE key = 'name'").get() as { value: string } | undefined)
      ?.value;
    if (name === undefined) throw new Error(`${file} is not a gm group store (no meta name)`);
    if (values.group !== undefined && name !== values.group) throw new Error(`${file} holds "${name}"`);
    const existing = (db.prepare("SELECT count(*) AS n FROM messages").get() as { n: number }).n;
    if (existing !== 0) throw new Error(`${file} already has ${existing} messages`);
    await workerReady({});
    await waitForStart();

    const t0 = Date.now();
    db.pragma("journal_mode = OFF");
    db.pragma("synchronous = OFF");
    db.pragma("cache_size = -262144"); // 256 MiB while filling: keeps the indexes in memory
    const now = Date.now();
    // Messages spaced 50 ms apart, the last one a second ago.
    const spacing = 50;
    const first = now - 1000 - messages * spacing;
    const members = Array.from({ length: memberCount }, (_, i) => ({ user: uuidv4(), name: `member-${i}` }));
    const addMember = db.prepare("INSERT INTO members (user, name, joined) VALUES (?, ?, ?)");
    db.transaction(() => {
      for (const m of members) addMember.run(m.user, m.name, first);
    })();

    const insert = db.prepare("INSERT INTO messages (seq, id, ts, user, name, text) VALUES (?, ?, ?, ?, ?, ?)");
    const fill = db.transaction((from: number, to: number) => {
      for (let seq = from; seq <= to; seq++) {
        const ts = first + seq * spacing;
        const m = members[seq % memberCount] as { user: string; name: string };
        const id = uuidv7({ msecs: ts }, Buffer.alloc(16));
        insert.run(seq, id, ts, m.user, m.name, padText(`message ${seq} from ${m.name}: `));
      }
    });
    for (let from = 1; from <= messages; from += BATCH) {
      fill(from, Math.min(messages, from + BATCH - 1));
      if ((from - 1) % 250_000 === 0 && from > 1) progress(`prefill: ${from - 1} messages`);
    }
    db.pragma("journal_mode = WAL");
    const elapsedMs = Date.now() - t0;
    progress(`prefill: ${messages} messages, ${memberCount} members in ${elapsedMs} ms`);
    db.close();
    const result: PrefillResult = { messages, members: memberCount, elapsedMs };
    await workerResult(result);
  } finally {
    if (db.open) db.close();
  }
});
