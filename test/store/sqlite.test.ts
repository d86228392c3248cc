import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, type TestContext, test } from "node:test";
import { pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import { StoreError } from "../../src/protocol/errors.js";
import { checkStore } from "../../src/store/check.js";
import { SCHEMA_VERSION, SqliteGroupStore } from "../../src/store/sqlite.js";

const STORE_MODULE = pathToFileURL(resolve(import.meta.dirname, "../../src/store/sqlite.ts")).href;
const ERRORS_MODULE = pathToFileURL(resolve(import.meta.dirname, "../../src/protocol/errors.ts")).href;

interface Env {
  readonly dir: string;
  open(name?: string, options?: { loopSyncMaxMs?: number }): SqliteGroupStore;
}

/** A fresh temp dir; every store opened through `open` is closed, then the dir removed, after the test. */
function setup(t: TestContext): Env {
  const dir = mkdtempSync(join(tmpdir(), "gm-store-"));
  const stores: SqliteGroupStore[] = [];
  t.after(async () => {
    for (const s of stores) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir,
    open(name = "general", options = {}) {
      const s = SqliteGroupStore.open(dir, name, options);
      stores.push(s);
      return s;
    },
  };
}

const USER = randomUUID();
const msg = (text: string, id: string = randomUUID()) => ({ id, user: USER, name: "Ana", text });

/** Appends n messages concurrently (so they share group commits), resolving once all are durable. */
const appendMany = (store: SqliteGroupStore, n: number, prefix = "m") =>
  Promise.all(Array.from({ length: n }, (_, i) => store.append(msg(`${prefix}${i + 1}`))));

/** Waits (bounded) until the wall clock has moved past `ts`, so the next write gets a later ts. */
function clockPast(ts: number): void {
  const deadline = performance.now() + 1000;
  while (Date.now() <= ts) if (performance.now() > deadline) throw new Error("the clock does not advance");
}

/** Runs a child node process with the store module; resolves with its exit code and output. */
function runChild(
  t: TestContext,
  dir: string,
  code: string,
): { done: Promise<{ code: number | null; out: string }>; kill(): void; line(re: RegExp): Promise<string> } {
  const script = join(dir, `child-${randomUUID()}.mts`);
  writeFileSync(
    script,
    `import { SqliteGroupStore } from ${JSON.stringify(STORE_MODULE)};\n` +
      `import { StoreError } from ${JSON.stringify(ERRORS_MODULE)};\n${code}\n`,
  );
  const child = spawn(process.execPath, ["--import", "tsx", script], {
    cwd: resolve(import.meta.dirname, "../.."),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let closed = false;
  const waiters: Array<() => void> = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    out += d;
    wake();
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    out += d;
  });
  const done = new Promise<{ code: number | null; out: string }>((res) =>
    child.on("close", (c) => {
      closed = true;
      wake();
      res({ code: c, out });
    }),
  );
  t.after(() => {
    if (!closed) child.kill("SIGKILL");
    return done;
  });
  return {
    done,
    kill: () => child.kill("SIGKILL"),
    line: (re) =>
      new Promise<string>((res, rej) => {
        const check = () => {
          const m = re.exec(out);
          if (m !== null) res(m[0]);
          else if (closed) rej(new Error(`the child ended without printing ${re}: ${out}`));
          else waiters.push(check);
        };
        check();
      }),
  };
}

describe("SqliteGroupStore: appends", () => {
  test("assigns seq 1..n in order and a non-decreasing ts", async (t) => {
    const store = setup(t).open();
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await store.append(msg(`one by one ${i}`)));
    results.push(...(await appendMany(store, 20)));
    assert.deepEqual(
      results.map((r) => r.seq),
      Array.from({ length: 25 }, (_, i) => i + 1),
    );
    assert.ok(results.every((r) => r.duplicate === false));
    for (let i = 1; i < results.length; i++) {
      assert.ok((results[i]?.ts ?? 0) >= (results[i - 1]?.ts ?? 0), "ts must not decrease as seq grows");
    }
    assert.equal(store.durableSeq, 25);
    assert.equal(store.count(), 25);
  });

  test("syncCounts: the writes acknowledged and the fdatasyncs that carried them", async (t) => {
    const store = setup(t).open();
    const before = store.syncCounts();
    assert.equal(before.writes, 0);
    await store.append(msg("alone"));
    const one = store.syncCounts();
    assert.deepEqual([one.writes, one.syncs], [1, before.syncs + 1], "a lone write: one sync");
    await appendMany(store, 50);
    const after = store.syncCounts();
    assert.equal(after.writes, 51);
    // Concurrent appends share group commits: fewer syncs than writes, at least one.
    assert.ok(after.syncs > one.syncs && after.syncs - one.syncs < 50, `syncs ${after.syncs - one.syncs} for 50`);
    // The high-water mark is synced apart, on the pool, a little after the writes (mark.ts).
    const deadline = Date.now() + 10_000;
    while (store.syncCounts().markSyncs === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(store.syncCounts().markSyncs >= 1, "the mark was synced");
  });

  test("stores exactly what was sent", async (t) => {
    const store = setup(t).open();
    const id = randomUUID();
    const text = "héllo 😀 \n multi-line ' \" \\";
    const r = await store.append({ id, user: USER, name: "Ana", text });
    assert.deepEqual(store.history({ limit: 10 }).messages, [{ seq: 1, ts: r.ts, id, user: USER, name: "Ana", text }]);
  });

  test("history pages are JSON text that SQLite writes: every character survives it", async (t) => {
    const store = setup(t).open();
    const texts = ["tab\tcr\r\u0001\u001f end", "\u2028\u2029 separators", '</script> & "quotes" \\ /', "日本語 𝄞 😀"];
    const sent = [];
    for (const text of texts) {
      const id = randomUUID();
      const r = await store.append({ id, user: USER, name: 'A "quoted" \\ name', text });
      sent.push({ seq: r.seq, ts: r.ts, id, user: USER, name: 'A "quoted" \\ name', text });
    }
    const page = store.historyJson({ limit: 10 });
    assert.deepEqual(JSON.parse(page.messages), sent);
    assert.equal(page.more, false);
    assert.deepEqual(JSON.parse(store.historyJson({ before: 3, limit: 1 }).messages), [sent[1]]);
  });

  test("an id given in upper case is the same message", async (t) => {
    const store = setup(t).open();
    const id = randomUUID();
    const first = await store.append(msg("x", id));
    const again = await store.append(msg("x", id.toUpperCase()));
    assert.equal(again.seq, first.seq);
    assert.equal(again.duplicate, true);
    assert.equal(store.history({ limit: 10 }).messages[0]?.id, id);
  });

  test("appending the same id again returns the original seq and ts, stored once", async (t) => {
    const store = setup(t).open();
    const id = randomUUID();
    const first = await store.append(msg("original", id));
    await appendMany(store, 3);
    const again = await store.append(msg("a retry, even with other text", id));
    assert.deepEqual(again, { seq: first.seq, ts: first.ts, duplicate: true });
    assert.equal(store.count(), 4);
    const texts = store.history({ limit: 10 }).messages.map((m) => m.text);
    assert.deepEqual(texts, ["original", "m1", "m2", "m3"]);
  });

  test("the same id twice in one batch (concurrent appends) is stored once", async (t) => {
    const store = setup(t).open();
    const id = randomUUID();
    const [a, other, b] = await Promise.all([
      store.append(msg("dup", id)),
      store.append(msg("other")),
      store.append(msg("dup", id)),
    ]);
    assert.equal(a?.seq, 1);
    assert.equal(other?.seq, 2);
    assert.deepEqual(b, { seq: 1, ts: a?.ts, duplicate: true });
    assert.equal(a?.duplicate, false);
    assert.equal(store.count(), 2);
    assert.equal(store.durableSeq, 2);
  });

  test("a retry after reopening is still recognized", async (t) => {
    const env = setup(t);
    const id = randomUUID();
    const store = env.open();
    const first = await store.append(msg("before restart", id));
    await store.close();
    const reopened = env.open();
    assert.deepEqual(await reopened.append(msg("before restart", id)), { ...first, duplicate: true });
    assert.equal((await reopened.append(msg("new"))).seq, first.seq + 1);
  });

  test("count() counts stored messages", async (t) => {
    const store = setup(t).open();
    assert.equal(store.count(), 0);
    await appendMany(store, 7);
    assert.equal(store.count(), 7);
  });
});

describe("SqliteGroupStore: members", () => {
  test("join and leave report what changed, and persist across close and reopen", async (t) => {
    const env = setup(t);
    const [alice, bob] = [randomUUID(), randomUUID()];
    const store = env.open();
    assert.deepEqual(await store.join(alice, "Alice"), { joined: true });
    assert.deepEqual(await store.join(bob, "Bob"), { joined: true });
    const bobJoined = store.members.get(bob)?.joined;
    assert.deepEqual(await store.join(bob, "Robert"), { joined: false });
    assert.equal(store.members.get(bob)?.name, "Robert");
    assert.equal(store.members.get(bob)?.joined, bobJoined, "joining again keeps the join time");
    assert.deepEqual(await store.leave(alice), { left: true });
    assert.deepEqual(await store.leave(alice), { left: false });
    assert.deepEqual([...store.members.keys()], [bob]);
    await store.close();

    const reopened = env.open();
    assert.deepEqual([...reopened.members.keys()], [bob]);
    assert.equal(reopened.members.get(bob)?.name, "Robert");
    assert.equal(typeof reopened.members.get(bob)?.joined, "number");
  });

  test("concurrent joins of many users all persist", async (t) => {
    const env = setup(t);
    const users = Array.from({ length: 50 }, () => randomUUID());
    const store = env.open();
    const results = await Promise.all(users.map((u, i) => store.join(u, `user ${i}`)));
    assert.ok(results.every((r) => r.joined));
    await store.close();
    assert.equal(env.open().members.size, 50);
  });
});

describe("SqliteGroupStore: history", () => {
  test("pages forward: the first page, after a seq, and `more`", async (t) => {
    const store = setup(t).open();
    await appendMany(store, 10);
    const seqs = (p: { messages: { seq: number }[] }) => p.messages.map((m) => m.seq);

    const first = store.history({ limit: 3 });
    assert.deepEqual(seqs(first), [1, 2, 3]);
    assert.equal(first.more, true);

    assert.deepEqual(seqs(store.history({ after: 3, limit: 3 })), [4, 5, 6]);
    const tail = store.history({ after: 7, limit: 3 });
    assert.deepEqual(seqs(tail), [8, 9, 10]);
    assert.equal(tail.more, false, "exactly the remaining messages: no more");
    assert.deepEqual(store.history({ after: 10, limit: 3 }), { messages: [], more: false });
    const all = store.history({ limit: 100 });
    assert.equal(all.messages.length, 10);
    assert.equal(all.more, false);
  });

  test("pages backward with `before`: the newest page below it, oldest first", async (t) => {
    const store = setup(t).open();
    await appendMany(store, 10);
    const seqs = (p: { messages: { seq: number }[] }) => p.messages.map((m) => m.seq);

    const newest = store.history({ before: Number.MAX_SAFE_INTEGER, limit: 4 });
    assert.deepEqual(seqs(newest), [7, 8, 9, 10]);
    assert.equal(newest.more, true);
    assert.deepEqual(seqs(store.history({ before: 7, limit: 4 })), [3, 4, 5, 6]);
    const oldest = store.history({ before: 3, limit: 4 });
    assert.deepEqual(seqs(oldest), [1, 2]);
    assert.equal(oldest.more, false);
    const exact = store.history({ before: 5, limit: 4 });
    assert.deepEqual(seqs(exact), [1, 2, 3, 4]);
    assert.equal(exact.more, false);
    assert.deepEqual(store.history({ before: 1, limit: 4 }), { messages: [], more: false });
  });

  test("`since` selects by time (ts >= since)", async (t) => {
    const store = setup(t).open();
    const early = await appendMany(store, 3, "early");
    clockPast(Math.max(...early.map((r) => r.ts)));
    const late = await appendMany(store, 4, "late");
    const since = late[0]?.ts ?? 0;
    assert.ok(late.every((r) => r.ts >= since));

    const page = store.history({ since, limit: 10 });
    assert.deepEqual(
      page.messages.map((m) => m.text),
      ["late1", "late2", "late3", "late4"],
    );
    assert.equal(page.more, false);
    const limited = store.history({ since, limit: 2 });
    assert.deepEqual(
      limited.messages.map((m) => m.seq),
      [4, 5],
    );
    assert.equal(limited.more, true);
    assert.equal(store.history({ since: 0, limit: 100 }).messages.length, 7);
    assert.deepEqual(store.history({ since: Math.max(...late.map((r) => r.ts)) + 1, limit: 10 }).messages, []);
  });

  test("`since` finds the first message at each time among many, equal times included", async (t) => {
    const store = setup(t).open();
    const all: Array<{ seq: number; ts: number }> = [];
    // Bursts of concurrent sends share a ms (equal ts); between bursts the clock moves on.
    for (let b = 0; b < 12; b++) {
      const burst = await appendMany(store, 1 + (b % 5), `b${b}-`);
      all.push(...burst);
      clockPast(Math.max(...burst.map((r) => r.ts)));
    }
    const byTime = [...new Set(all.map((r) => r.ts))];
    for (const time of [0, ...byTime, ...byTime.map((x) => x + 1), Number.MAX_SAFE_INTEGER]) {
      const expected = all.filter((r) => r.ts >= time).map((r) => r.seq);
      const got = store.history({ since: time, limit: 1000 }).messages.map((m) => m.seq);
      assert.deepEqual(got, expected, `since ${time}`);
    }
  });
});

describe("SqliteGroupStore: durability and identity", () => {
  test("acknowledged messages survive close and reopen, in order and intact", async (t) => {
    const env = setup(t);
    const store = env.open();
    const sent = await appendMany(store, 300);
    const before = store.history({ limit: 1000 }).messages;
    await store.close();

    const reopened = env.open();
    assert.equal(reopened.count(), 300);
    assert.equal(reopened.durableSeq, 300);
    assert.deepEqual(reopened.history({ limit: 1000 }).messages, before);
    assert.deepEqual(
      before.map((m) => m.ts),
      sent.map((r) => r.ts),
    );
  });

  test("writes queued just before close() are committed by it", async (t) => {
    const env = setup(t);
    const store = env.open();
    const pending = appendMany(store, 5);
    const closed = store.close();
    const results = await pending;
    await closed;
    assert.deepEqual(
      results.map((r) => r.seq),
      [1, 2, 3, 4, 5],
    );
    assert.equal(env.open().count(), 5);
  });

  test("a closed store refuses writes with a StoreError", async (t) => {
    const store = setup(t).open();
    await store.close();
    await store.close(); // twice is fine
    await assert.rejects(store.append(msg("late")), { name: "StoreError", message: /closed/ });
    await assert.rejects(store.join(USER, "x"), StoreError);
  });

  // A fast disk's syncs run on the event loop, a slow disk's on the thread pool (loopSyncMaxMs 0
  // forces that here): the same guarantees either way.
  for (const [where, options] of [
    ["on the event loop", {}],
    ["on the thread pool", { loopSyncMaxMs: 0 }],
  ] as const) {
    test(`batches committed while others sync are acknowledged in seq order (syncs ${where})`, async (t) => {
      const env = setup(t);
      const store = env.open("general", options);
      const acked: number[] = [];
      const all: Promise<unknown>[] = [];
      // Ten waves of three, each in its own turn of the event loop: each wave is its own commit, and
      // most start while earlier waves are still syncing.
      for (let wave = 0; wave < 10; wave++) {
        for (let i = 0; i < 3; i++) {
          all.push(
            store.append(msg(`w${wave}-${i}`)).then((r) => {
              assert.ok(store.durableSeq >= r.seq, "visible in history only once durable");
              acked.push(r.seq);
            }),
          );
        }
        await new Promise((r) => setImmediate(r));
      }
      await Promise.all(all);
      assert.deepEqual(
        acked,
        Array.from({ length: 30 }, (_, i) => i + 1),
      );
      assert.equal(store.durableSeq, 30);
      await store.close();
      const again = env.open();
      assert.deepEqual(
        again.history({ limit: 100 }).messages.map((m) => m.text),
        Array.from({ length: 30 }, (_, i) => `w${Math.floor(i / 3)}-${i % 3}`),
      );
    });

    test(`a failed disk sync stops the store: that write and every later one are refused (syncs ${where})`, async (t) => {
      const env = setup(t);
      const store = env.open("general", options);
      await store.append(msg("before"));
      // Break the store's own descriptor on its WAL (SQLite keeps its own): its next fdatasync fails
      // with EBADF, as one would after a disk error.
      const wal = join(env.dir, "general.db-wal");
      const flags = (n: number) => /flags:\s+(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${n}`, "utf8"))?.[1] ?? "2";
      const readOnly = (n: number) => (Number.parseInt(flags(n), 8) & 3) === 0;
      const fds = readdirSync("/proc/self/fd")
        .map(Number)
        .filter((n) => {
          try {
            return readlinkSync(`/proc/self/fd/${n}`) === wal;
          } catch {
            return false;
          }
        });
      // SQLite's descriptor is read-write; the store's own, which it fdatasyncs, is read-only.
      const ours = fds.filter(readOnly);
      assert.equal(ours.length, 1, `one read-only descriptor on the WAL among ${fds.join(", ")}`);
      closeSync(ours[0] as number);
      await assert.rejects(store.append(msg("during")), (err: Error) => {
        assert.ok(err instanceof StoreError);
        assert.match(err.message, /stopped taking writes after a failed disk sync .*restart the group server/);
        return true;
      });
      await assert.rejects(store.join(randomUUID(), "Bo"), StoreError);
      await assert.rejects(store.append(msg("after")), /failed disk sync/);
      assert.equal(store.durableSeq, 1, "nothing after the failure is visible");
    });
  }

  test("the group id and creation time persist across reopen; each group has its own", async (t) => {
    const env = setup(t);
    const a = env.open("alpha");
    const b = env.open("beta");
    assert.match(a.id, /^[0-9a-f-]{36}$/);
    assert.notEqual(a.id, b.id);
    const { id, createdAt } = a;
    await a.close();
    const again = env.open("alpha");
    assert.equal(again.id, id);
    assert.equal(again.createdAt, createdAt);
    assert.equal(again.name, "alpha");
    assert.deepEqual(
      readdirSync(env.dir)
        .filter((f) => f.endsWith(".db"))
        .sort(),
      ["alpha.db", "beta.db"],
    );
  });

  test("acknowledged messages survive a killed process (no close)", { timeout: 30_000 }, async (t) => {
    const env = setup(t);
    const child = runChild(
      t,
      env.dir,
      `const s = SqliteGroupStore.open(${JSON.stringify(env.dir)}, "general");
       const user = "${USER}";
       const rs = await Promise.all(Array.from({ length: 500 }, (_, i) =>
         s.append({ id: crypto.randomUUID(), user, name: "Ana", text: "m" + (i + 1) })));
       console.log("acked " + Math.max(...rs.map((r) => r.seq)));
       setInterval(() => {}, 1000); // stay alive until killed`,
    );
    assert.equal(await child.line(/acked \d+/), "acked 500");
    child.kill();
    await child.done;

    const store = env.open();
    assert.equal(store.count(), 500);
    assert.deepEqual(
      store.history({ limit: 1000 }).messages.map((m) => m.text),
      Array.from({ length: 500 }, (_, i) => `m${i + 1}`),
    );
  });
});

/** The store's search index (private): how many stored messages wait for it. */
const waiting = (store: SqliteGroupStore) => (store as unknown as { search: { waiting: number } }).search.waiting;
const searched = (store: SqliteGroupStore, word: string) =>
  (JSON.parse(store.searchJson({ words: [word], limit: 1000 }).messages) as Array<{ seq: number }>).map((m) => m.seq);

describe("SqliteGroupStore: the search index", () => {
  test("follows the log: not in a SEND's batch, in chunks after it, and a search first takes what waits", async (t) => {
    const env = setup(t);
    const store = env.open();
    await appendMany(store, 10, "word ");
    assert.equal(waiting(store), 10, "acknowledged before they were indexed");
    assert.deepEqual(searched(store, "word").length, 10, "a search sees them all the same");
    assert.equal(waiting(store), 0);
    await appendMany(store, 300, "word ");
    // A chunk waits: it is indexed on the next turn of the event loop, not before the replies.
    const deadline = performance.now() + 5000;
    while (waiting(store) > 0 && performance.now() < deadline) await new Promise((r) => setImmediate(r));
    assert.equal(waiting(store), 0, "a full chunk is indexed at once");
    await appendMany(store, 3, "last ");
    await store.close();
    const db = new Database(join(env.dir, "general.db"), { readonly: true });
    const indexed = db.prepare("SELECT value FROM meta WHERE key = 'indexed'").pluck().get();
    db.close();
    assert.equal(indexed, "313", "a clean close leaves nothing waiting");
  });

  test("what a crash left unindexed is indexed when the store opens again", { timeout: 30_000 }, async (t) => {
    const env = setup(t);
    const child = runChild(
      t,
      env.dir,
      `const s = SqliteGroupStore.open(${JSON.stringify(env.dir)}, "general");
       await Promise.all(Array.from({ length: 100 }, (_, i) =>
         s.append({ id: crypto.randomUUID(), user: "${USER}", name: "Ana", text: "crash " + i })));
       s.search.cancel(); // killed before the index's timer fires
       console.log("acked " + s.durableSeq + ", waiting " + s.search.waiting);
       setInterval(() => {}, 1000);`,
    );
    assert.equal(await child.line(/acked \d+, waiting \d+/), "acked 100, waiting 100");
    child.kill();
    await child.done;
    const report = checkStore(env.dir, "general");
    assert.ok(report.ok, report.lines.map((l) => l.text).join("\n"));
    assert.ok(report.lines.some((l) => /the newest 100 wait to be indexed/.test(l.text)));

    const store = env.open();
    assert.equal(waiting(store), 0, "indexed at open, before any search");
    assert.equal(searched(store, "crash").length, 100);
    await store.close();
    assert.ok(checkStore(env.dir, "general").lines.some((l) => l.text === "search index matches the messages"));
  });
});

describe("SqliteGroupStore: exclusive ownership", () => {
  test("a second open of the same group in this process fails with a clear StoreError", async (t) => {
    const env = setup(t);
    const first = env.open("general");
    assert.throws(
      () => env.open("general"),
      (err: unknown) => {
        assert.ok(err instanceof StoreError, String(err));
        assert.equal(err.name, "StoreError");
        assert.match(err.message, /group "general" is already served by another process \(.*general\.db is locked\)/);
        return true;
      },
    );
    env.open("random"); // another group in the same dir is independent
    await first.close();
    assert.equal(env.open("general").id, first.id, "once closed, the group can be opened again");
  });

  test("another process cannot open a group this process holds", { timeout: 30_000 }, async (t) => {
    const env = setup(t);
    const held = env.open("general");
    await held.append(msg("held"));
    const child = runChild(
      t,
      env.dir,
      `try {
         SqliteGroupStore.open(${JSON.stringify(env.dir)}, "general");
         console.log(JSON.stringify({ opened: true }));
       } catch (err) {
         console.log(JSON.stringify({ opened: false, name: err.name, isStoreError: err instanceof StoreError, message: err.message }));
       }`,
    );
    const { code, out } = await child.done;
    assert.equal(code, 0, out);
    const result = JSON.parse(out.trim().split("\n").at(-1) ?? "{}");
    assert.equal(result.opened, false);
    assert.equal(result.isStoreError, true);
    assert.match(result.message, /group "general" is already served by another process/);
    // The holder is unaffected.
    assert.equal((await held.append(msg("still mine"))).seq, 2);
  });

  test("a file that holds another group is refused", async (t) => {
    const env = setup(t);
    await env.open("alpha").close();
    renameSync(join(env.dir, "alpha.db"), join(env.dir, "beta.db"));
    assert.throws(() => env.open("beta"), { name: "StoreError", message: /beta\.db holds group "alpha", not "beta"/ });
  });

  test("a refused open releases the file", async (t) => {
    const env = setup(t);
    await env.open("alpha").close();
    renameSync(join(env.dir, "alpha.db"), join(env.dir, "beta.db"));
    assert.throws(() => env.open("beta"), { message: /holds group "alpha"/ });
    // The same mistake again should get the same explanation, not "already served by another process".
    assert.throws(() => env.open("beta"), { message: /holds group "alpha"/ });
  });

  test("a refused open does not leak file descriptors", async (t) => {
    const env = setup(t);
    env.open("general");
    const fds = () => readdirSync("/proc/self/fd").length;
    // The first refusal may open something once for good (a lazily loaded resource); count after it.
    assert.throws(() => env.open("general"), StoreError);
    const before = fds();
    for (let i = 0; i < 5; i++) assert.throws(() => env.open("general"), StoreError);
    assert.equal(fds(), before);
  });

  test("a file that is not a database is refused with a StoreError", (t) => {
    const env = setup(t);
    writeFileSync(join(env.dir, "junk.db"), "this is not a SQLite database, just text ".repeat(100));
    assert.throws(() => env.open("junk"), {
      name: "StoreError",
      message: /cannot open the store for group "junk" at .*junk\.db/,
    });
  });
});

/** The schema of the stores gm made before migrations were numbered (user_version 0, an index on ts). */
const OLD_SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS members (
  user TEXT PRIMARY KEY, name TEXT NOT NULL, joined INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE, ts INTEGER NOT NULL,
  user TEXT NOT NULL, name TEXT NOT NULL, text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_ts ON messages (ts);
`;

/** A store file as the old code left it: its identity, one member and `texts` as messages. */
function oldStore(file: string, group: string, texts: string[]) {
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.exec(OLD_SCHEMA);
  const identity = { id: randomUUID(), created: 1_700_000_000_000 };
  const meta = db.prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
  meta.run("id", identity.id);
  meta.run("name", group);
  meta.run("created", String(identity.created));
  db.prepare("INSERT INTO members (user, name, joined) VALUES (?, ?, ?)").run(USER, "Ana", identity.created);
  const insert = db.prepare("INSERT INTO messages (seq, id, ts, user, name, text) VALUES (?, ?, ?, ?, ?, ?)");
  const messages = texts.map((text, i) => {
    const id = randomUUID();
    const m = { seq: i + 1, ts: identity.created + i, id, user: USER, name: "Ana", text };
    insert.run(m.seq, Buffer.from(id.replaceAll("-", ""), "hex"), m.ts, m.user, m.name, m.text);
    return m;
  });
  db.close();
  return { ...identity, messages };
}

/** What a store file holds, read with a plain connection (after the store has closed it). */
function inspect(file: string) {
  const db = new Database(file, { readonly: true });
  try {
    return {
      version: db.pragma("user_version", { simple: true }),
      indexes: db
        .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages'")
        .all()
        .map((r) => r.name),
      messages: db.prepare<[], { n: number }>("SELECT count(*) AS n FROM messages").get()?.n,
    };
  } finally {
    db.close();
  }
}

describe("SqliteGroupStore: schema migrations", () => {
  test("a new store is made at the current schema version, without a ts index", async (t) => {
    const env = setup(t);
    await env.open("general").close();
    assert.equal(SCHEMA_VERSION, 4);
    const file = join(env.dir, "general.db");
    assert.deepEqual(inspect(file), { version: SCHEMA_VERSION, indexes: ["sqlite_autoindex_messages_1"], messages: 0 });
  });

  test("a store made by the old schema opens, migrates, and keeps its messages, members and identity", async (t) => {
    const env = setup(t);
    const file = join(env.dir, "general.db");
    const old = oldStore(file, "general", ["one", "two", "three"]);
    assert.deepEqual(inspect(file), {
      version: 0,
      indexes: ["sqlite_autoindex_messages_1", "messages_ts"],
      messages: 3,
    });

    const store = env.open("general");
    assert.equal(store.id, old.id);
    assert.equal(store.createdAt, old.created);
    assert.deepEqual([...store.members.values()], [{ user: USER, name: "Ana", joined: old.created }]);
    assert.equal(store.durableSeq, 3);
    assert.deepEqual(store.history({ limit: 10 }).messages, old.messages);
    assert.deepEqual(
      store.history({ since: old.created + 1, limit: 10 }).messages.map((m) => m.text),
      ["two", "three"],
      "time queries work without the index",
    );
    const retry = await store.append(msg("one, retried", old.messages[0]?.id));
    assert.deepEqual(retry, { seq: 1, ts: old.created, duplicate: true });
    assert.equal((await store.append(msg("four"))).seq, 4);
    await store.close();

    assert.deepEqual(inspect(file), { version: SCHEMA_VERSION, indexes: ["sqlite_autoindex_messages_1"], messages: 4 });
    const again = env.open("general");
    assert.equal(again.id, old.id);
    assert.deepEqual(
      again.history({ limit: 10 }).messages.map((m) => m.text),
      ["one", "two", "three", "four"],
    );
  });

  test("a store made by schema version 2 migrates to 3 with nothing lost, and moderates from then on", async (t) => {
    const env = setup(t);
    const file = join(env.dir, "general.db");
    const old = oldStore(file, "general", ["one", "two"]);
    // What gm wrote at version 2: the same tables without the ts index, user_version 2.
    const v2 = new Database(file);
    v2.exec("DROP INDEX messages_ts");
    v2.pragma("user_version = 2");
    const kept = v2.prepare("SELECT * FROM meta ORDER BY key").all();
    v2.close();
    const tables = (f: string) => {
      const db = new Database(f, { readonly: true });
      try {
        return db
          .prepare<[], string>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
          .pluck()
          .all();
      } finally {
        db.close();
      }
    };
    assert.deepEqual(tables(file), ["members", "messages", "meta"]);

    const store = env.open("general");
    assert.equal(store.id, old.id);
    assert.equal(store.createdAt, old.created);
    assert.deepEqual([...store.members.values()], [{ user: USER, name: "Ana", joined: old.created }]);
    assert.deepEqual(store.history({ limit: 10 }).messages, old.messages);
    assert.equal(store.owner, undefined, "version 2 had no owner");
    assert.equal(store.inviteOnly, false);
    assert.deepEqual([...store.barred, ...store.invites], []);
    const bo = randomUUID();
    await Promise.all([store.setOwner(USER), store.setInviteOnly(true), store.bar(bo), store.invite("0123abcd")]);
    assert.deepEqual(await store.join(bo, "Bo"), { joined: false, refused: "barred" });
    await store.close();

    assert.deepEqual(
      tables(file).filter((name) => !name.startsWith("messages_fts")),
      ["barred", "invites", "members", "messages", "meta"],
    );
    assert.deepEqual(inspect(file), { version: SCHEMA_VERSION, indexes: ["sqlite_autoindex_messages_1"], messages: 2 });
    const again = env.open("general");
    assert.equal(again.owner, USER);
    assert.equal(again.inviteOnly, true);
    assert.deepEqual([...again.barred], [bo]);
    assert.deepEqual([...again.invites], ["0123abcd"]);
    assert.deepEqual(again.history({ limit: 10 }).messages, old.messages);
    await again.close();
    const db = new Database(file, { readonly: true, fileMustExist: true });
    const meta = db.prepare<[], { key: string }>("SELECT * FROM meta ORDER BY key").all();
    db.close();
    for (const row of kept as Array<{ key: string }>) {
      if (row.key !== "opened")
        assert.ok(
          meta.some((r) => JSON.stringify(r) === JSON.stringify(row)),
          row.key,
        );
    }
  });

  test("a store made by schema version 3 gets its messages indexed for search once, and new ones as they come", async (t) => {
    const env = setup(t);
    const file = join(env.dir, "general.db");
    const old = oldStore(file, "general", ["the old cafe", "nothing here", "Café, again"]);
    // What gm wrote at version 3: version 2's tables and the moderation ones, no search index.
    const v3 = new Database(file);
    v3.exec(`DROP INDEX messages_ts;
      CREATE TABLE barred (user TEXT PRIMARY KEY) WITHOUT ROWID;
      CREATE TABLE invites (entry TEXT PRIMARY KEY) WITHOUT ROWID;`);
    v3.pragma("user_version = 3");
    v3.close();
    const fts = (f: string) => {
      const db = new Database(f, { readonly: true });
      try {
        return db
          .prepare<[], string>("SELECT name FROM sqlite_master WHERE name LIKE 'messages_fts%' ORDER BY name")
          .pluck()
          .all();
      } finally {
        db.close();
      }
    };
    assert.deepEqual(fts(file), []);

    const store = env.open("general");
    const texts = (words: string[]) =>
      (JSON.parse(store.searchJson({ words, limit: 10 }).messages) as Array<{ text: string }>).map((m) => m.text);
    assert.deepEqual(texts(["cafe"]), ["Café, again", "the old cafe"], "the old messages are indexed");
    assert.deepEqual(store.history({ limit: 10 }).messages, old.messages);
    await store.append(msg("a new cafe"));
    assert.deepEqual(texts(["cafe"]), ["a new cafe", "Café, again", "the old cafe"]);
    await store.close();

    assert.deepEqual(fts(file), ["messages_fts", "messages_fts_config", "messages_fts_data", "messages_fts_idx"]);
    assert.equal(inspect(file).version, 4);
    const again = env.open("general");
    assert.deepEqual(
      (JSON.parse(again.searchJson({ words: ["CAFE"], limit: 10 }).messages) as Array<{ seq: number }>).map(
        (m) => m.seq,
      ),
      [4, 3, 1],
      "indexed once: no message twice after the reopen",
    );
  });

  test("the migrations and the identity check are one transaction: a refused old store is not migrated", (t) => {
    const env = setup(t);
    const file = join(env.dir, "beta.db");
    oldStore(file, "alpha", ["one"]);
    assert.throws(() => env.open("beta"), { name: "StoreError", message: /beta\.db holds group "alpha", not "beta"/ });
    assert.deepEqual(inspect(file), {
      version: 0,
      indexes: ["sqlite_autoindex_messages_1", "messages_ts"],
      messages: 1,
    });
  });

  test("a store made by a newer gm is refused, naming the file, and left unchanged", async (t) => {
    const env = setup(t);
    const store = env.open("general");
    await appendMany(store, 3);
    await store.close();
    const file = join(env.dir, "general.db");
    const future = new Database(file);
    future.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    future.exec("CREATE TABLE reactions (seq INTEGER NOT NULL, emoji TEXT NOT NULL)");
    future.close();
    const bytes = readFileSync(file);
    const files = readdirSync(env.dir).sort();

    for (let i = 0; i < 2; i++) {
      assert.throws(
        () => env.open("general"),
        (err: unknown) => {
          assert.ok(err instanceof StoreError, String(err));
          assert.equal(
            err.message,
            `${file} has schema version ${SCHEMA_VERSION + 1}, but this gm knows versions up to ${SCHEMA_VERSION}: ` +
              "it was written by a newer gm; serve it with that one (the file is left as it is)",
          );
          return true;
        },
      );
    }
    assert.deepEqual(readFileSync(file), bytes, "not a byte of the file changed");
    assert.deepEqual(readdirSync(env.dir).sort(), files);
    assert.equal(existsSync(`${file}-wal`), false);
    assert.deepEqual(inspect(file), {
      version: SCHEMA_VERSION + 1,
      indexes: ["sqlite_autoindex_messages_1"],
      messages: 3,
    });
  });
});

describe("SQLite store files", () => {
  test("are the server owner's alone: new ones 0600 in a 0700 directory, older 0644 ones made so", async (t) => {
    const env = setup(t);
    const dir = join(env.dir, "data");
    const s = SqliteGroupStore.open(dir, "general");
    await s.append(msg("secret"));
    const mode = (f: string) => statSync(f).mode & 0o777;
    assert.equal(mode(dir), 0o700);
    assert.equal(mode(join(dir, "general.db")), 0o600);
    assert.equal(mode(join(dir, "general.db-wal")), 0o600, "SQLite gives the WAL the database's mode");
    await s.close();
    chmodSync(join(dir, "general.db"), 0o644); // as a gm from before made it
    const again = SqliteGroupStore.open(dir, "general");
    assert.equal(mode(join(dir, "general.db")), 0o600);
    assert.equal(again.durableSeq, 1, "nothing lost");
    await again.close();
  });
});
