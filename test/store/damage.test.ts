/**
 * A damaged or lost store is refused at open, naming the file, never served as a fresh or shorter
 * group: each test has a real server process acknowledge messages, kills it with SIGKILL, damages
 * its files as a disk or an operator might, and opens the store again.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, type TestContext, test } from "node:test";
import { pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import { GroupServer } from "../../src/group/group-server.js";
import { RpcClient } from "../../src/net/rpc-client.js";
import { RemoteError, StoreError } from "../../src/protocol/errors.js";
import { checkStore } from "../../src/store/check.js";
import { readMark } from "../../src/store/mark.js";
import { SqliteGroupStore, sqliteStores } from "../../src/store/sqlite.js";

const STORE_MODULE = pathToFileURL(resolve(import.meta.dirname, "../../src/store/sqlite.ts")).href;
const USER = randomUUID();
const msg = (text: string) => ({ id: randomUUID(), user: USER, name: "Ana", text });

/**
 * Makes group "general" in a temp dir with `checkpointed` messages in the database file (a clean
 * close; none: the group's tables too are only in the WAL) and `inWal` more acknowledged by a process that is then killed with SIGKILL, so they are
 * only in the WAL. Returns the dir and the file names.
 */
async function crashedStore(t: TestContext, checkpointed: number, inWal: number) {
  const dir = mkdtempSync(join(tmpdir(), "gm-damage-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  if (checkpointed > 0) {
    const first = SqliteGroupStore.open(dir, "general");
    await Promise.all(Array.from({ length: checkpointed }, (_, i) => first.append(msg(`c${i}`))));
    await first.close();
  }
  const script = join(dir, "child.mts");
  writeFileSync(
    script,
    `import { randomUUID } from "node:crypto";
     import { SqliteGroupStore } from ${JSON.stringify(STORE_MODULE)};
     const s = SqliteGroupStore.open(${JSON.stringify(dir)}, "general");
     for (let b = 0; b < 3; b++) {
       await Promise.all(Array.from({ length: ${Math.ceil(inWal / 3)} }, (_, i) =>
         s.append({ id: randomUUID(), user: ${JSON.stringify(USER)}, name: "Ana", text: "w" + b + "-" + i })));
     }
     console.log("acked " + s.durableSeq);
     setInterval(() => {}, 1000);\n`,
  );
  const child = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<void>((res) => child.on("close", () => res()));
  t.after(() => {
    child.kill("SIGKILL");
    return exited;
  });
  const acked = await new Promise<number>((res, rej) => {
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      const m = /acked (\d+)/.exec(out);
      if (m) res(Number(m[1]));
    });
    child.on("close", () => rej(new Error(`the child ended early: ${out}`)));
  });
  child.kill("SIGKILL");
  await exited;
  const file = join(dir, "general.db");
  return { dir, file, wal: `${file}-wal`, mark: join(dir, "general.hwm"), acked };
}

/** Opening must fail with a StoreError whose message names `file` and matches `re`. */
function assertRefused(dir: string, file: string, re: RegExp): StoreError {
  let caught: unknown;
  try {
    const s = SqliteGroupStore.open(dir, "general");
    void s.close();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof StoreError, `refused with a StoreError, got ${String(caught)}`);
  assert.ok(caught.message.includes(file), `the error names ${file}: ${caught.message}`);
  assert.match(caught.message, re);
  return caught;
}

describe("SqliteGroupStore: damaged stores", () => {
  test("the killed process's acknowledged messages survive when nothing is damaged", async (t) => {
    const s = await crashedStore(t, 50, 300);
    assert.equal(s.acked, 350);
    const report = checkStore(s.dir, "general");
    assert.ok(report.ok, report.lines.map((l) => l.text).join("\n"));
    const store = SqliteGroupStore.open(s.dir, "general");
    t.after(() => store.close());
    assert.equal(store.durableSeq, 350);
    const busy = checkStore(s.dir, "general");
    assert.equal(busy.ok, false, "a store being served cannot be checked");
    assert.equal(busy.inUse, true, "it is reported as in use");
    assert.match(busy.lines.at(-1)?.text ?? "", /is in use: a running group server holds it, so it was not checked/);
    assert.ok(!busy.lines.some((l) => /damaged|integrity/i.test(l.text)), "nor as damaged");
  });

  test("--check creates nothing beside the store, with or without a -wal file", async (t) => {
    const s = await crashedStore(t, 50, 300);
    const files = () => readdirSync(s.dir).sort();
    const crashed = files();
    assert.ok(crashed.includes("general.db-wal") && !crashed.includes("general.db-shm"), crashed.join(" "));
    const bytes = [readFileSync(s.file), readFileSync(s.wal)];
    const report = checkStore(s.dir, "general");
    assert.deepEqual([readFileSync(s.file), readFileSync(s.wal)], bytes, "the files are unchanged");
    assert.ok(report.ok, report.lines.map((l) => l.text).join("\n"));
    assert.ok(
      report.lines.some((l) => /350 messages, seq 1\.\.350/.test(l.text)),
      "the WAL's messages were read",
    );
    assert.deepEqual(files(), crashed, "a store with a -wal file");
    await SqliteGroupStore.open(s.dir, "general").close(); // a clean close: no -wal
    const clean = files();
    assert.ok(!clean.includes("general.db-wal"), clean.join(" "));
    assert.ok(checkStore(s.dir, "general").ok);
    assert.deepEqual(files(), clean, "a store without a -wal file");
  });

  for (const [what, damage] of [
    ["deleted", (wal: string) => rmSync(wal)],
    ["cut in half", (wal: string) => truncateSync(wal, Math.floor(statSync(wal).size / 2))],
    ["zeroed", (wal: string) => writeFileSync(wal, Buffer.alloc(statSync(wal).size))],
  ] as const) {
    test(`a WAL ${what} after acknowledged sends: refused, naming the file; --accept-loss never reuses a seq`, async (t) => {
      const s = await crashedStore(t, 50, 300);
      assert.ok(existsSync(s.wal), "the WAL holds the killed process's messages");
      damage(s.wal);
      const err = assertRefused(s.dir, s.file, /went backwards: its messages end at seq \d+, but .* up to seq 350/);
      assert.match(err.message, /--accept-loss/);
      const report = checkStore(s.dir, "general");
      assert.equal(report.ok, false);
      assert.ok(report.lines.some((l) => !l.ok && /behind the mark \(350\)/.test(l.text)));

      const warnings: string[] = [];
      const store = SqliteGroupStore.open(s.dir, "general", { acceptLoss: true, warn: (l) => warnings.push(l) });
      t.after(() => store.close());
      assert.match(warnings.join("\n"), /ACCEPTED LOSS: .* lost seqs \d+\.\.350/);
      const next = await store.append(msg("after the loss"));
      assert.equal(next.seq, 351, "numbering continues after the mark");
      while (Date.now() <= next.ts) await new Promise((r) => setImmediate(r));
      const later = await store.append(msg("later"));
      // Time bounds are found by bisecting seqs: the gap's seqs count as older than what follows.
      const since = store.history({ since: later.ts, limit: 10 }).messages.map((m) => m.text);
      assert.deepEqual(since, ["later"], "since the last message: the gap is not taken for a later time");
      const until = store.history({ before: 1e15, until: later.ts, limit: 1 }).messages.map((m) => m.seq);
      assert.deepEqual(until, [351]);
      await store.close();
      const reopened = SqliteGroupStore.open(s.dir, "general");
      t.after(() => reopened.close());
      assert.equal(reopened.durableSeq, 352, "an accepted loss is not refused again");
      await reopened.close();
      const after = checkStore(s.dir, "general");
      assert.ok(after.ok, after.lines.map((l) => l.text).join("\n"));
      assert.ok(after.lines.some((l) => /\.\.350 are a gap/.test(l.text)));
    });
  }

  test("--check of a store whose tables were only in its deleted WAL says so, naming the files", async (t) => {
    const s = await crashedStore(t, 0, 30);
    rmSync(s.wal);
    const report = checkStore(s.dir, "general");
    assert.equal(report.ok, false);
    const text = report.lines.map((l) => l.text).join("\n");
    assert.doesNotMatch(text, /no such table/);
    assert.ok(
      report.lines.some(
        (l) =>
          !l.ok &&
          l.text.startsWith(`${s.file} holds no group: its tables were lost`) &&
          l.text.includes(`${s.wal}, which is missing`) &&
          l.text.includes(`${s.mark} says group "general"`) &&
          /up to seq 30$/.test(l.text),
      ),
      text,
    );
  });

  test("--check of a name with no store in the data dir says so instead of passing", (t) => {
    const dir = mkdtempSync(join(tmpdir(), "gm-damage-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const none = checkStore(dir, "genral");
    assert.equal(none.ok, false);
    assert.equal(none.missing, true);
    assert.deepEqual(
      none.lines.map((l) => l.text),
      [`there is no store of group "genral" in ${dir} (no genral.db, no genral.hwm): check --name and --data-dir`],
    );
    const noDir = checkStore(join(dir, "nowhere"), "general");
    assert.equal(noDir.ok, false);
    assert.match(noDir.lines[0]?.text ?? "", /^there is no data dir .*nowhere, so no store of group "general"/);
    assert.deepEqual(readdirSync(dir), [], "nothing was created");
  });

  for (const [what, damage] of [
    ["replaced by a 0-byte file", (file: string) => writeFileSync(file, "")],
    ["deleted", (file: string) => rmSync(file)],
  ] as const) {
    test(`a database ${what}: refused, not re-created as a new group`, async (t) => {
      const s = await crashedStore(t, 50, 300);
      damage(s.file);
      rmSync(s.wal, { force: true });
      assertRefused(s.dir, s.file, /is (missing|empty \(0 bytes\)), but its high-water mark .* seq 350/);
      assert.equal(checkStore(s.dir, "general").ok, false);
      const id = readFileSync(s.mark, "latin1").split(" ")[1];
      const store = SqliteGroupStore.open(s.dir, "general", { acceptLoss: true });
      t.after(() => store.close());
      assert.equal(store.id, id, "an accepted loss keeps the group's id");
      assert.equal((await store.append(msg("after"))).seq, 351);
    });
  }

  test("a database of the same name but another id is refused", async (t) => {
    const s = await crashedStore(t, 5, 3);
    const other = mkdtempSync(join(tmpdir(), "gm-damage-other-"));
    t.after(() => rmSync(other, { recursive: true, force: true }));
    const impostor = SqliteGroupStore.open(other, "general");
    await Promise.all(Array.from({ length: 20 }, (_, i) => impostor.append(msg(`i${i}`))));
    await impostor.close();
    rmSync(s.wal, { force: true });
    writeFileSync(s.file, readFileSync(join(other, "general.db")));
    assertRefused(s.dir, s.file, /says the group is .*: the database was replaced/);
    assert.ok(checkStore(s.dir, "general").lines.some((l) => !l.ok && /was replaced/.test(l.text)));
  });

  test("--check checks the search index against the messages and says how to rebuild it", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "gm-damage-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const store = SqliteGroupStore.open(dir, "general");
    await Promise.all(["one cafe", "two cafes", "three"].map((text) => store.append(msg(text))));
    await store.close();
    const report = checkStore(dir, "general");
    assert.ok(report.ok, report.lines.map((l) => l.text).join("\n"));
    assert.ok(report.lines.some((l) => l.ok && l.text === "search index matches the messages"));

    // Message 1 taken out of the index behind gm's back: the messages are whole, the index is not.
    const file = join(dir, "general.db");
    const db = new Database(file);
    db.prepare("INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', 1, 'one cafe')").run();
    db.close();
    const damaged = checkStore(dir, "general");
    assert.equal(damaged.ok, false);
    const line = damaged.lines.find((l) => !l.ok)?.text ?? "";
    assert.match(line, /the search index does not match the messages/);
    assert.ok(line.includes(`sqlite3 ${file} "INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')"`), line);
    const again = new Database(file);
    again.prepare("INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')").run();
    again.close();
    assert.ok(checkStore(dir, "general").ok, "the command it gives repairs it");
  });

  test("a garbled page is refused naming the file, and --check reports it", async (t) => {
    const s = await crashedStore(t, 400, 3);
    const clean = SqliteGroupStore.open(s.dir, "general");
    await clean.close(); // checkpoints the WAL into the database
    const page = 4096;
    // The rightmost leaf of messages holds the newest messages, which every open reads (it is no
    // longer the file's last page once the search index has pages too).
    const probe = new Database(s.file, { readonly: true });
    const newest = probe
      .prepare<[], number>("SELECT pageno FROM dbstat WHERE name = 'messages' ORDER BY path DESC LIMIT 1")
      .pluck()
      .get() as number;
    probe.close();
    const fd = openSync(s.file, "r+");
    try {
      writeSync(fd, Buffer.alloc(page, 0x5a), 0, page, (newest - 1) * page);
    } finally {
      closeSync(fd);
    }
    assertRefused(s.dir, s.file, /the file is damaged \(database disk image is malformed\)/);
    const report = checkStore(s.dir, "general");
    assert.equal(report.ok, false);
    assert.ok(report.lines.some((l) => !l.ok && l.text.includes(s.file)));
  });

  test("the mark follows every acknowledged seq across reopens", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "gm-damage-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    for (let round = 1; round <= 4; round++) {
      const store = SqliteGroupStore.open(dir, "general");
      const results = await Promise.all(Array.from({ length: round }, (_, i) => store.append(msg(`r${round}-${i}`))));
      const acked = Math.max(...results.map((r) => r.seq));
      assert.equal(readMark(join(dir, "general.hwm"))?.seq, acked, "the mark is at the last acknowledged seq");
      await store.close();
    }
  });

  test("a deleted mark is refused, naming it; --accept-loss makes a new one with a warning", async (t) => {
    const s = await crashedStore(t, 50, 30);
    rmSync(s.mark);
    const err = assertRefused(s.dir, s.mark, /high-water mark .* is missing, but .* had one/);
    assert.ok(err.message.includes(s.file), err.message);
    assert.match(err.message, /--accept-loss/);
    assert.equal(existsSync(s.mark), false, "refusing made no mark");
    const report = checkStore(s.dir, "general");
    assert.equal(report.ok, false);
    assert.ok(report.lines.some((l) => !l.ok && l.text.startsWith(`${s.mark} is missing, but ${s.file} had one`)));

    const warnings: string[] = [];
    const store = SqliteGroupStore.open(s.dir, "general", { acceptLoss: true, warn: (l) => warnings.push(l) });
    t.after(() => store.close());
    assert.match(warnings.join("\n"), /ACCEPTED LOSS: the high-water mark .* was missing; a new one is made/);
    assert.equal((await store.append(msg("after"))).seq, 81);
    await store.close();
    assert.equal(readMark(s.mark)?.seq, 81);
    const reopened = SqliteGroupStore.open(s.dir, "general");
    await reopened.close();
  });

  test("a store from before marks (no mark, never had one) opens and gets one", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "gm-damage-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const first = SqliteGroupStore.open(dir, "general");
    await first.append(msg("old"));
    await first.close();
    const db = new Database(join(dir, "general.db"));
    db.prepare("DELETE FROM meta WHERE key = 'marked'").run();
    db.close();
    rmSync(join(dir, "general.hwm"));
    const store = SqliteGroupStore.open(dir, "general");
    assert.equal(store.durableSeq, 1);
    await store.close();
    assert.equal(readMark(join(dir, "general.hwm"))?.seq, 1);
    rmSync(join(dir, "general.hwm"));
    assert.throws(() => SqliteGroupStore.open(dir, "general"), /is missing, but .* had one/);
  });

  test("a group server refused for one damaged store leaves no files for the others it would have made", async (t) => {
    const s = await crashedStore(t, 5, 3);
    writeFileSync(s.file, "");
    rmSync(s.wal, { force: true });
    const before = readdirSync(s.dir).sort();
    await assert.rejects(
      GroupServer.start({ names: ["H", "general"], bind: "tcp://127.0.0.1:*", openStore: sqliteStores(s.dir) }),
      (err: unknown) => err instanceof StoreError && err.message.includes(s.file),
    );
    assert.deepEqual(readdirSync(s.dir).sort(), before, "no H.db, H.hwm (nor -wal, -shm) left behind");
    assert.deepEqual(statSync(s.file).size, 0, "the damaged store is left as it was");
  });

  test("a damaged mark is refused, naming it", async (t) => {
    const s = await crashedStore(t, 5, 3);
    writeFileSync(s.mark, "garbage");
    assertRefused(s.dir, s.mark, /high-water mark .* is damaged/);
  });
});

/** Pages of `table` (a table or index b-tree) of type `type` in `file`, by dbstat, in file order. */
function pagesOf(file: string, table: string, type: "leaf" | "internal"): number[] {
  const db = new Database(file, { readonly: true });
  try {
    return db
      .prepare<[string, string], number>("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = ? ORDER BY pageno")
      .pluck()
      .all(table, type);
  } finally {
    db.close();
  }
}

/** Writes garbage over page `pageno` (numbered from 1, as SQLite does) of `file`. */
function garble(file: string, pageno: number, pageSize = 4096): void {
  const fd = openSync(file, "r+");
  try {
    writeSync(fd, Buffer.alloc(pageSize, 0xa5), 0, pageSize, (pageno - 1) * pageSize);
  } finally {
    closeSync(fd);
  }
}

describe("SqliteGroupStore: a damaged page that only a later read or write meets", () => {
  test("HISTORY over it and a SEND into it are refused naming the file, through a real group server", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "gm-damage-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const first = SqliteGroupStore.open(dir, "general");
    await first.join(USER, "Ana");
    for (let b = 0; b < 10; b++) {
      await Promise.all(Array.from({ length: 200 }, (_, i) => first.append(msg(`m${b}-${i}-${"x".repeat(300)}`))));
    }
    await first.close(); // checkpoints the WAL into the database file
    const file = join(dir, "general.db");
    const leaves = pagesOf(file, "messages", "leaf");
    assert.ok(leaves.length > 100, `the messages span many pages (${leaves.length})`);
    // A leaf in the middle: open reads the schema, meta, members and the newest leaf, not this one.
    garble(file, leaves[Math.floor(leaves.length / 2)] as number);
    // Every leaf of the id index: any new message's id lands in one of them.
    const idIndex = pagesOf(file, "sqlite_autoindex_messages_1", "leaf");
    assert.ok(idIndex.length > 1, "the id index has leaves below its root");
    for (const page of idIndex) garble(file, page);

    const logged: string[] = [];
    const server = await GroupServer.start({
      names: ["general"],
      bind: "tcp://127.0.0.1:*",
      openStore: sqliteStores(dir),
      log: () => {},
      serverLog: (line) => logged.push(line),
    });
    t.after(() => server.close());
    const client = new RpcClient(server.endpoint, { timeoutMs: 5000, tries: 1 });
    t.after(() => client.close());
    const refused = async (what: Promise<unknown>): Promise<RemoteError> => {
      const err = await what.then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof RemoteError, `refused with an error reply, got ${String(err)}`);
      assert.ok(err.message.includes(file), `the reply names ${file}: ${err.message}`);
      assert.match(err.message, /the file is damaged \(database disk image is malformed\)/);
      assert.match(err.message, /gm group --check/);
      assert.ok(
        logged.some((l) => l.includes(file) && /gm group --check/.test(l)),
        `the server's log names the file: ${logged.join("\n")}`,
      );
      return err;
    };

    const firstPage = await client.request<{ messages: unknown[] }>("HISTORY", { group: "general", user: USER });
    assert.equal(firstPage.messages.length, 100, "pages before the damage are served");
    let after = 0;
    const reading = (async () => {
      for (;;) {
        const page = await client.request<{ messages: Array<{ seq: number }>; more: boolean }>("HISTORY", {
          group: "general",
          user: USER,
          after,
          limit: 500,
        });
        if (!page.more) return;
        after = page.messages.at(-1)?.seq as number;
      }
    })();
    await refused(reading);
    assert.ok(after > 0 && after < 2000, `the damage is met in the middle (after seq ${after})`);

    logged.length = 0;
    await refused(client.request("SEND", { group: "general", user: USER, id: randomUUID(), text: "new" }));
  });
});
