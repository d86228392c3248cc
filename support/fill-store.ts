/**
 * Fills a group's SQLite file directly, much faster than sending the messages through gm (shared
 * by the bench's prefill and by tests that need a large store). The file must already exist with
 * gm's schema and meta rows and hold no messages. Writes `members` members and `messages`
 * messages in the store's own schema (src/store/sqlite.ts): messages(seq, id BLOB UNIQUE, ts,
 * user, name, text), as gm would have stored them: seq 1..N, ids uuid v7 (time-ordered, as clients
 * make them), ts increasing and ending a second ago, senders round-robin over the members; and
 * the search index over them (messages_fts), when the store has one.
 *
 * synchronous=OFF and no journal while filling (a crash here only loses a benchmark run or a
 * test's temp dir), in transactions of 50,000 rows; the file is put back in WAL mode at the end,
 * as gm expects. gm's high-water mark is behind the filled store afterwards, which gm accepts (a
 * store ahead of its mark lost nothing).
 */
import Database from "better-sqlite3";
import { v4 as uuidv4, v7 as uuidv7 } from "uuid";

const BATCH = 50_000;

export interface FillOptions {
  readonly messages: number;
  readonly members: number;
  /** The store must hold this group (its meta name), when given. */
  readonly group?: string;
  /** The text of message `seq` from `name`. */
  readonly text: (seq: number, name: string) => string;
  /** Called every 250,000 messages. */
  readonly progress?: (done: number) => void;
}

export function fillStore(file: string, options: FillOptions): void {
  const db = new Database(file, { fileMustExist: true });
  try {
    const name = (db.prepare("SELECT value FROM meta WHERE key = 'name'").get() as { value: string } | undefined)
      ?.value;
    if (name === undefined) throw new Error(`${file} is not a gm group store (no meta name)`);
    if (options.group !== undefined && name !== options.group) throw new Error(`${file} holds "${name}"`);
    const existing = (db.prepare("SELECT count(*) AS n FROM messages").get() as { n: number }).n;
    if (existing !== 0) throw new Error(`${file} already has ${existing} messages`);

    db.pragma("journal_mode = OFF");
    db.pragma("synchronous = OFF");
    db.pragma("cache_size = -262144"); // 256 MiB while filling: keeps the indexes in memory
    const { messages } = options;
    const memberCount = Math.max(1, options.members);
    // Messages spaced 50 ms apart, the last one a second ago.
    const spacing = 50;
    const first = Date.now() - 1000 - messages * spacing;
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
        insert.run(seq, id, ts, m.user, m.name, options.text(seq, m.name));
      }
    });
    for (let from = 1; from <= messages; from += BATCH) {
      fill(from, Math.min(messages, from + BATCH - 1));
      if ((from - 1) % 250_000 === 0 && from > 1) options.progress?.(from - 1);
    }
    // The search index (the store's migration 4), built once over all the rows as that migration
    // does, with its record of how far it reaches (else the group server would index them all as
    // it starts).
    const indexed = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'messages_fts'").get() !== undefined;
    if (indexed) {
      db.exec("INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')");
      db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('indexed', ?)").run(String(messages));
    }
    db.pragma("journal_mode = WAL");
  } finally {
    db.close();
  }
}
