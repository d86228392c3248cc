/**
 * Micro-benchmark of one HISTORY page (100 messages from a random point) on the group server's
 * event loop: the SQLite query plus turning the rows into the JSON reply frame. Compares what
 * src/store/sqlite.ts + src/group/group-server.ts do today with alternatives:
 *
 *   objects    row objects (SELECT *), id BLOB -> uuid string via uuid's stringify (which
 *              validates with a regex), JSON.stringify of the reply: what gm did before session 4
 *   server     SqliteGroupStore.historyJson(): one JSON object per message, built by SQLite
 *              (json_object, the uuid formatted in SQL), joined into the reply with string
 *              concatenation, as the group server does
 *   sqlarray   the whole page as one JSON array built by SQLite (json_group_array)
 *
 * Then the newer queries, through SqliteGroupStore as the server calls it: a HISTORY page bounded
 * by `until` (a time, found by bisection) and by `since` and `until`, and SEARCH pages (FTS5):
 * a word in 0.15 % of the messages, two such words (rarely together), a word in every second
 * message, a word in no message, and the worst case found: two words each in half the messages
 * but never together ("odd even"), which walks both lists to the end.
 *
 *   node --import tsx bench/experiments/history-micro.ts [--messages 200000] [--pages 5000]
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { stringify as uuidStringify, v4 as uuidv4, v7 as uuidv7 } from "uuid";
import { MESSAGE_JSON, SqliteGroupStore } from "../../src/store/sqlite.js";

const { values } = parseArgs({
  options: { messages: { type: "string", default: "200000" }, pages: { type: "string", default: "5000" } },
});
const N = Number.parseInt(values.messages, 10);
const PAGES = Number.parseInt(values.pages, 10);
const LIMIT = 100;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gm-history-micro-"));
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));

// Create with the real store, fill directly (as bench/gm/prefill.ts does).
await SqliteGroupStore.open(dir, "h").close();
{
  const db = new Database(path.join(dir, "h.db"));
  db.pragma("synchronous = OFF");
  const users = Array.from({ length: 100 }, (_, i) => ({ user: uuidv4(), name: `member-${i}` }));
  // Texts of ~100 bytes: "odd" or "even", then 14 words of a 10,000-word vocabulary.
  let seed = 7;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const vocabulary = Array.from({ length: 10_000 }, (_, i) => `w${i}`);
  const text = (seq: number) =>
    [seq % 2 === 1 ? "odd" : "even", ...Array.from({ length: 14 }, () => vocabulary[Math.floor(random() * 10_000)])]
      .join(" ")
      .padEnd(100, ".");
  const ins = db.prepare("INSERT INTO messages (seq, id, ts, user, name, text) VALUES (?, ?, ?, ?, ?, ?)");
  db.transaction(() => {
    for (let seq = 1; seq <= N; seq++) {
      const u = users[seq % users.length] as { user: string; name: string };
      const ts = Date.now() - (N - seq) * 50;
      ins.run(seq, uuidv7({ msecs: ts }, Buffer.alloc(16)), ts, u.user, u.name, text(seq));
    }
  })();
  const t0 = performance.now();
  db.exec("INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')");
  db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('indexed', ?)").run(String(N));
  console.log(`search index of ${N} messages built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  db.close();
}

const store = SqliteGroupStore.open(dir, "h");
const last = store.durableSeq;
const start = (): number => Math.floor(Math.random() * (N - LIMIT));

function time(name: string, page: (after: number) => Buffer): void {
  for (let i = 0; i < 200; i++) page(start()); // warm-up
  const t0 = process.hrtime.bigint();
  let bytes = 0;
  for (let i = 0; i < PAGES; i++) bytes += page(start()).length;
  const us = Number(process.hrtime.bigint() - t0) / 1000 / PAGES;
  console.log(`${name.padEnd(9)} ${us.toFixed(1)} us/page (${(bytes / PAGES / 1024).toFixed(1)} KiB)`);
}

// The same connection the store uses (private in TypeScript only).
const db = (store as unknown as { db: Database.Database }).db;
interface Row {
  seq: number;
  id: Buffer;
  ts: number;
  user: string;
  name: string;
  text: string;
}
const rowsAfter = db.prepare<[number, number, number], Row>(
  "SELECT * FROM messages WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
);
const sqlArray = db.prepare<[number, number, number], { page: string; n: number }>(
  `SELECT json_group_array(${MESSAGE_JSON}) AS page, count(*) AS n FROM (SELECT * FROM messages WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?)`,
);

const variants: Record<string, (after: number) => Buffer> = {
  objects: (after) => {
    const rows = rowsAfter.all(after, last, LIMIT + 1);
    const more = rows.length > LIMIT;
    if (more) rows.pop();
    const messages = rows.map((r) => ({
      seq: r.seq,
      ts: r.ts,
      id: uuidStringify(r.id),
      user: r.user,
      name: r.name,
      text: r.text,
    }));
    return Buffer.from(JSON.stringify({ group: "h", messages, more, last }));
  },
  server: (after) => {
    const page = store.historyJson({ after, limit: LIMIT });
    return Buffer.from(`{"group":"h","messages":${page.messages},"more":${page.more},"last":${last}}`);
  },
  sqlarray: (after) => {
    // The page and whether there is more: LIMIT+1 rows aggregated, the extra one cut in JS is
    // awkward with an aggregate, so ask for exactly LIMIT and test for one more with a cheap query.
    const r = sqlArray.get(after, last, LIMIT) as { page: string; n: number };
    const more = r.n === LIMIT && after + LIMIT < last;
    return Buffer.from(`{"group":"h","messages":${r.page},"more":${more},"last":${last}}`);
  },
};
// Same content check: the three must produce the same messages.
const probe = start();
const parsed = Object.fromEntries(
  Object.entries(variants).map(([k, f]) => [
    k,
    JSON.stringify((JSON.parse(f(probe).toString()) as { messages: unknown }).messages),
  ]),
);
for (const k of ["server", "sqlarray"])
  if (parsed[k] !== parsed.objects)
    throw new Error(`${k} differs: ${String(parsed[k]).slice(0, 300)} vs ${String(parsed.objects).slice(0, 300)}`);

console.log(`${N} messages, pages of ${LIMIT} from a random start`);
for (const [name, f] of Object.entries(variants)) time(name, f);
for (const [name, f] of Object.entries(variants)) time(name, f);

/** µs per call of `query` (a random point in [0, 1) each time), `count` times, and the messages per page. */
function timeQuery(name: string, count: number, query: (at: number) => { messages: string }): void {
  for (let i = 0; i < Math.min(20, count); i++) query(Math.random());
  let found = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) found += (JSON.parse(query(Math.random()).messages) as unknown[]).length;
  const us = Number(process.hrtime.bigint() - t0) / 1000 / count;
  console.log(`${name.padEnd(30)} ${us.toFixed(1).padStart(9)} us/page (${(found / count).toFixed(0)} messages)`);
}
const first = JSON.parse(store.historyJson({ limit: 1 }).messages)[0].ts as number;
const span = (JSON.parse(store.historyJson({ before: last + 1, limit: 1 }).messages)[0].ts as number) - first;
const tsAt = (at: number) => Math.floor(first + at * span);
console.log(`the newer queries, ${LIMIT} a page:`);
timeQuery("history until T (newest below)", PAGES, (at) =>
  store.historyJson({ before: Number.MAX_SAFE_INTEGER, until: tsAt(at), limit: LIMIT }),
);
timeQuery("history since T until T+1h", PAGES, (at) =>
  store.historyJson({ since: tsAt(at), until: tsAt(at) + 3_600_000, limit: LIMIT }),
);
const word = (at: number) => `w${Math.floor(at * 10_000)}`;
timeQuery("search 1 word (0.15 %)", PAGES / 5, (at) => store.searchJson({ words: [word(at)], limit: LIMIT }));
timeQuery("search 2 words (0.15 % each)", PAGES / 5, (at) =>
  store.searchJson({ words: [word(at), word(1 - at)], limit: LIMIT }),
);
timeQuery("search 1 word (50 %)", PAGES / 5, () => store.searchJson({ words: ["odd"], limit: LIMIT }));
timeQuery("search 1 word, before a seq", PAGES / 5, (at) =>
  store.searchJson({ words: ["even"], before: Math.floor(at * last) + 1, limit: LIMIT }),
);
timeQuery("search a word in none", PAGES / 5, () => store.searchJson({ words: ["nowhere"], limit: LIMIT }));
timeQuery("search odd even (never together)", 5, () => store.searchJson({ words: ["odd", "even"], limit: LIMIT }));
await store.close();
