/**
 * The GroupStore promises (src/store/types.ts), checked on every implementation through its
 * StoreFactory: the in-memory double must behave as SQLite does, or handler tests prove nothing.
 * SQLite's own durability, locking and sync cases are in sqlite.test.ts.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, type TestContext, test } from "node:test";
import { Limits } from "../../src/protocol/constants.js";
import { memoryStores } from "../../src/store/memory.js";
import { sqliteStores } from "../../src/store/sqlite.js";
import type { GroupStore, HistoryQuery, SearchQuery, StoreFactory } from "../../src/store/types.js";

const BACKENDS: Record<string, (t: TestContext) => StoreFactory> = {
  memory: () => memoryStores(),
  sqlite: (t) => {
    const dir = mkdtempSync(join(tmpdir(), "gm-contract-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    return sqliteStores(dir);
  },
};

const USER = randomUUID();
type StoredSeq = { seq: number };
const msg = (text: string, id: string = randomUUID()) => ({ id, user: USER, name: "Ana", text });
const page = (store: GroupStore, query: HistoryQuery) => {
  const p = store.historyJson(query);
  return { seqs: (JSON.parse(p.messages) as Array<{ seq: number }>).map((m) => m.seq), more: p.more };
};

const found = (store: GroupStore, query: SearchQuery) => {
  const p = store.searchJson(query);
  return { texts: (JSON.parse(p.messages) as Array<{ text: string }>).map((m) => m.text), more: p.more };
};

/** Appends each text in its own millisecond (waiting for the clock to move on), so every ts differs. */
async function appendApart(store: GroupStore, texts: readonly string[]): Promise<number[]> {
  const stamps: number[] = [];
  for (const text of texts) {
    const last = stamps.at(-1) ?? 0;
    while (Date.now() <= last) await new Promise((resolve) => setImmediate(resolve));
    stamps.push((await store.append(msg(text))).ts);
  }
  return stamps;
}

for (const [backend, factoryFor] of Object.entries(BACKENDS)) {
  describe(`GroupStore contract: ${backend}`, () => {
    /** Opens through the factory; every store opened is closed after the test (before the dir goes). */
    function opener(t: TestContext) {
      const factory = factoryFor(t);
      const opened: GroupStore[] = [];
      t.after(async () => {
        for (const s of opened) await s.close();
      });
      return async (name = "general") => {
        const s = await factory(name);
        opened.push(s);
        return s;
      };
    }

    test("appends get seqs 1..n without holes, a non-decreasing ts, and durableSeq follows", async (t) => {
      const store = await opener(t)();
      assert.equal(store.durableSeq, 0);
      const one = await store.append(msg("one"));
      const rest = await Promise.all([store.append(msg("two")), store.append(msg("three"))]);
      const all = [one, ...rest];
      assert.deepEqual(
        all.map((r) => [r.seq, r.duplicate]),
        [
          [1, false],
          [2, false],
          [3, false],
        ],
      );
      assert.ok(all.every((r, i) => i === 0 || r.ts >= (all[i - 1] as { ts: number }).ts));
      assert.equal(store.durableSeq, 3);
    });

    test("an id stored already (in any letter case) returns the original seq and ts and stores nothing", async (t) => {
      const store = await opener(t)();
      const id = randomUUID();
      const first = await store.append(msg("original", id));
      await store.append(msg("other"));
      assert.deepEqual(await store.append(msg("retry", id)), { seq: first.seq, ts: first.ts, duplicate: true });
      assert.deepEqual(await store.append(msg("retry", id.toUpperCase())), { ...first, duplicate: true });
      assert.equal(store.durableSeq, 2);
      const messages = JSON.parse(store.historyJson({ limit: 10 }).messages);
      assert.deepEqual(messages[0], { seq: 1, ts: first.ts, id, user: USER, name: "Ana", text: "original" });
      assert.equal(messages.length, 2);
    });

    test("history pages: from the start, after, before, since, with `more`", async (t) => {
      const store = await opener(t)();
      const sent = [];
      for (let i = 0; i < 10; i++) sent.push(await store.append(msg(`m${i + 1}`)));
      assert.deepEqual(page(store, { limit: 3 }), { seqs: [1, 2, 3], more: true });
      assert.deepEqual(page(store, { limit: 10 }), { seqs: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], more: false });
      assert.deepEqual(page(store, { after: 7, limit: 3 }), { seqs: [8, 9, 10], more: false });
      assert.deepEqual(page(store, { after: 6, limit: 3 }), { seqs: [7, 8, 9], more: true });
      assert.deepEqual(page(store, { after: 10, limit: 3 }), { seqs: [], more: false });
      assert.deepEqual(page(store, { before: Number.MAX_SAFE_INTEGER, limit: 4 }), { seqs: [7, 8, 9, 10], more: true });
      assert.deepEqual(page(store, { before: 5, limit: 4 }), { seqs: [1, 2, 3, 4], more: false });
      assert.deepEqual(page(store, { before: 3, limit: 4 }), { seqs: [1, 2], more: false });
      assert.deepEqual(page(store, { before: 1, limit: 4 }), { seqs: [], more: false });
      const ts5 = (sent[4] as { ts: number }).ts;
      const fromTs5 = sent.filter((r) => r.ts >= ts5).map((r) => r.seq);
      assert.deepEqual(page(store, { since: ts5, limit: 100 }), { seqs: fromTs5, more: false });
      assert.deepEqual(page(store, { since: 0, limit: 2 }), { seqs: [1, 2], more: true });
      const last = (sent[9] as { ts: number }).ts;
      assert.deepEqual(page(store, { since: last + 1, limit: 10 }), { seqs: [], more: false });
    });

    test("history time bounds: until alone and with since, after and before; since with before", async (t) => {
      const store = await opener(t)();
      const ts = await appendApart(store, ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8"]);
      const at = (seq: number) => ts[seq - 1] as number;
      // until: ts < until, so until = ts(5) keeps 1..4.
      assert.deepEqual(page(store, { until: at(5), limit: 10 }), { seqs: [1, 2, 3, 4], more: false });
      assert.deepEqual(page(store, { until: at(5), limit: 3 }), { seqs: [1, 2, 3], more: true });
      assert.deepEqual(page(store, { until: at(5) + 1, limit: 10 }), { seqs: [1, 2, 3, 4, 5], more: false });
      assert.deepEqual(page(store, { until: at(1), limit: 10 }), { seqs: [], more: false });
      assert.deepEqual(page(store, { until: 0, limit: 10 }), { seqs: [], more: false });
      // A range: since <= ts < until.
      assert.deepEqual(page(store, { since: at(3), until: at(7), limit: 10 }), { seqs: [3, 4, 5, 6], more: false });
      assert.deepEqual(page(store, { since: at(3), until: at(7), limit: 2 }), { seqs: [3, 4], more: true });
      assert.deepEqual(page(store, { since: at(6), until: at(3), limit: 10 }), { seqs: [], more: false });
      // With a cursor: after pages on inside the bounds, before pages down from the newest of them.
      assert.deepEqual(page(store, { after: 4, until: at(7), limit: 10 }), { seqs: [5, 6], more: false });
      assert.deepEqual(page(store, { before: 1e15, until: at(7), limit: 2 }), { seqs: [5, 6], more: true });
      assert.deepEqual(page(store, { before: 5, until: at(7), limit: 2 }), { seqs: [3, 4], more: true });
      assert.deepEqual(page(store, { before: 1e15, since: at(6), limit: 2 }), { seqs: [7, 8], more: true });
      assert.deepEqual(page(store, { before: 1e15, since: at(6), limit: 3 }), { seqs: [6, 7, 8], more: false });
      assert.deepEqual(page(store, { before: 7, since: at(4), until: at(6), limit: 5 }), { seqs: [4, 5], more: false });
      assert.deepEqual(page(store, { after: 2, since: at(5), limit: 2 }), { seqs: [5, 6], more: true });
    });

    test("search: every word, newest first, regardless of case and diacritics, paged with before", async (t) => {
      const store = await opener(t)();
      await appendApart(store, [
        "Lunch at the Café?", // 1
        "the cafe is closed today", // 2
        "send me an E-Mail", // 3
        "e mail is fine", // 4
        "emailing now", // 5
        "CAFE again, closed", // 6
      ]);
      const q = (words: string[], extra: Partial<SearchQuery> = {}) => found(store, { words, limit: 10, ...extra });
      assert.deepEqual(q(["cafe"]), {
        texts: ["CAFE again, closed", "the cafe is closed today", "Lunch at the Café?"],
        more: false,
      });
      assert.deepEqual(q(["café", "CLOSED"]), {
        texts: ["CAFE again, closed", "the cafe is closed today"],
        more: false,
      });
      // A word of several parts matches them in a row; no prefix or substring matching.
      assert.deepEqual(q(["e-mail"]), { texts: ["e mail is fine", "send me an E-Mail"], more: false });
      assert.deepEqual(q(["mail", "e"]), { texts: ["e mail is fine", "send me an E-Mail"], more: false });
      assert.deepEqual(q(["emai"]), { texts: [], more: false });
      assert.deepEqual(q(["cafe", "nowhere"]), { texts: [], more: false });
      // Paging: the newest `limit`, then below the last seq seen.
      assert.deepEqual(q(["cafe"], { limit: 2 }), {
        texts: ["CAFE again, closed", "the cafe is closed today"],
        more: true,
      });
      assert.deepEqual(q(["cafe"], { limit: 2, before: 2 }), { texts: ["Lunch at the Café?"], more: false });
      const seqs = JSON.parse(store.searchJson({ words: ["cafe"], limit: 10 }).messages).map((m: StoredSeq) => m.seq);
      assert.deepEqual(seqs, [6, 2, 1]);
    });

    test("search: time bounds and the byte budget", async (t) => {
      const store = await opener(t)();
      const ts = await appendApart(store, ["word one", "word two", "word three", "word four"]);
      const q = (extra: Partial<SearchQuery>) => found(store, { words: ["word"], limit: 10, ...extra });
      assert.deepEqual(q({ since: ts[1] as number }), { texts: ["word four", "word three", "word two"], more: false });
      assert.deepEqual(q({ until: ts[1] as number }), { texts: ["word one"], more: false });
      assert.deepEqual(q({ since: ts[1] as number, until: ts[3] as number }), {
        texts: ["word three", "word two"],
        more: false,
      });
      const row = Buffer.byteLength(store.searchJson({ words: ["four"], limit: 1 }).messages) - 2;
      assert.deepEqual(q({ maxBytes: row + 4 }), { texts: ["word four"], more: true }, "one fits, two do not");
      assert.deepEqual(q({ maxBytes: 1 }), { texts: ["word four"], more: true }, "a page always holds one");
    });

    test("search words are words, never query syntax: FTS5 operators find messages or nothing, never fail", async (t) => {
      const store = await opener(t)();
      await appendApart(store, ["a or b", "near the station", "x AND y", 'say "hello" (twice)', "c:d e*f"]);
      const texts = (words: string[]) => found(store, { words, limit: 10 }).texts;
      assert.deepEqual(texts(['"a"', "OR", "b*"]), ["a or b"]);
      assert.deepEqual(texts(["NEAR("]), ["near the station"]);
      assert.deepEqual(texts(["NEAR(the", "station)"]), ["near the station"]);
      assert.deepEqual(texts(["NEAR(station"]), [], '"near station" is not in a row in the text');
      assert.deepEqual(texts(["AND"]), ["x AND y"]);
      assert.deepEqual(texts(['"hello"', "(twice)"]), ['say "hello" (twice)']);
      assert.deepEqual(texts(["c:d"]), ["c:d e*f"]);
      assert.deepEqual(texts(["e*f"]), ["c:d e*f"]);
      assert.deepEqual(texts(["b*"]), ["a or b"], "not a prefix search");
      for (const hostile of [
        ['"'],
        ['""'],
        ['a"'],
        ["NOT"],
        ["-a"],
        ["^a"],
        ["{text}:a"],
        ["text:a"],
        ["a", "OR", "NOT", "b"],
        ["NEAR(a", "b,", "2)"],
        ["'a'"],
        ["a\\"],
        ["*a*"],
        ["a+b"],
        ["🙂a"],
      ]) {
        assert.doesNotThrow(() => store.searchJson({ words: hostile, limit: 10 }), JSON.stringify(hostile));
      }
    });

    test("a page ends at its byte budget, with `more`, and always holds one message", async (t) => {
      const store = await opener(t)();
      for (let i = 0; i < 9; i++) await store.append(msg("x".repeat(1000)));
      // Every message's JSON has the same length here (one-digit seqs): a page of one is [row].
      const row = Buffer.byteLength(store.historyJson({ limit: 1 }).messages) - 2;
      const three = 3 * row + 2 + 2;
      assert.deepEqual(page(store, { limit: 9, maxBytes: three }), { seqs: [1, 2, 3], more: true });
      assert.deepEqual(page(store, { limit: 9, maxBytes: three - 1 }), { seqs: [1, 2], more: true });
      assert.deepEqual(page(store, { after: 6, limit: 9, maxBytes: three }), { seqs: [7, 8, 9], more: false });
      assert.deepEqual(page(store, { before: 10, limit: 9, maxBytes: three }), { seqs: [7, 8, 9], more: true });
      assert.deepEqual(page(store, { since: 0, limit: 9, maxBytes: three }), { seqs: [1, 2, 3], more: true });
      assert.deepEqual(page(store, { after: 3, limit: 9, maxBytes: 10 }), { seqs: [4], more: true });
      assert.deepEqual(page(store, { before: 4, limit: 9, maxBytes: 10 }), { seqs: [3], more: true });
      assert.ok(Buffer.byteLength(store.historyJson({ limit: 9, maxBytes: three }).messages) <= three);
    });

    test("texts of control characters at the JSON limit come one a page within the default budget", async (t) => {
      const store = await opener(t)();
      // 16,384 control characters: 96 KiB once JSON-escaped, the largest text SEND accepts.
      const text = "\u0001".repeat(Limits.textJsonBytes / 6);
      for (let i = 0; i < 3; i++) await store.append(msg(text));
      let after = 0;
      const seen: number[] = [];
      for (;;) {
        const p = store.historyJson({ after, limit: 1000 });
        const bytes = Buffer.byteLength(p.messages);
        assert.ok(bytes <= Limits.historyBytes, `a page of ${bytes} bytes`);
        assert.ok(bytes > Limits.textJsonBytes, "a page holds the whole escaped text");
        const seqs = (JSON.parse(p.messages) as Array<{ seq: number }>).map((m) => m.seq);
        seen.push(...seqs);
        after = seqs.at(-1) as number;
        if (!p.more) break;
      }
      assert.deepEqual(seen, [1, 2, 3]);
    });

    test("a text stored before the JSON limit, larger than a page, gets a page to itself", async (t) => {
      const store = await opener(t)();
      await store.append(msg("short"));
      await store.append(msg("\u0001".repeat(Limits.textBytes)));
      await store.append(msg("short"));
      const pages = [0, 1, 2].map((after) => store.historyJson({ after, limit: 1000 }));
      const seqs = pages.map((p) => (JSON.parse(p.messages) as Array<{ seq: number }>).map((m) => m.seq));
      assert.deepEqual(seqs, [[1], [2], [3]]);
      assert.ok(Buffer.byteLength(pages[1]?.messages ?? "") > 6 * Limits.textBytes);
    });

    test("members: join, rename, leave, as the map and the results say", async (t) => {
      const store = await opener(t)();
      const [alice, bob] = [randomUUID(), randomUUID()];
      assert.deepEqual(await store.join(alice, "Alice"), { joined: true });
      assert.deepEqual(await store.join(bob, "Bob"), { joined: true });
      const joined = store.members.get(bob)?.joined;
      assert.equal(typeof joined, "number");
      assert.deepEqual(await store.join(bob, "Robert"), { joined: false });
      assert.deepEqual(store.members.get(bob), { user: bob, name: "Robert", joined });
      assert.deepEqual(await store.leave(alice), { left: true });
      assert.deepEqual(await store.leave(alice), { left: false });
      assert.deepEqual([...store.members.keys()], [bob]);
    });

    test("a new group has no owner, is open to all, bars and invites no one", async (t) => {
      const store = await opener(t)();
      assert.equal(store.owner, undefined);
      assert.equal(store.inviteOnly, false);
      assert.deepEqual([...store.barred], []);
      assert.deepEqual([...store.invites], []);
    });

    test("owner: set, kept by onlyIfNone, replaced without it; an owner is never barred", async (t) => {
      const store = await opener(t)();
      const [ana, bo] = [randomUUID(), randomUUID()];
      const [first, second] = await Promise.all([store.setOwner(ana, true), store.setOwner(bo, true)]);
      assert.deepEqual([first, second], [{ owner: ana }, { owner: ana }], "the first queued wins");
      await store.bar(bo);
      assert.deepEqual(await store.setOwner(bo), { owner: bo });
      assert.equal(store.owner, bo);
      assert.equal(store.barred.has(bo), false);
    });

    test("a barred user is not a member and is refused at join; unbar lets them in again", async (t) => {
      const store = await opener(t)();
      const [ana, bo] = [randomUUID(), randomUUID()];
      await store.join(ana, "Ana");
      await store.invite(ana);
      assert.deepEqual(await store.bar(ana), { barred: true });
      assert.deepEqual(await store.bar(ana), { barred: false });
      assert.equal(store.members.has(ana), false);
      assert.deepEqual([...store.invites], [], "a bar drops the invites naming the user");
      assert.deepEqual(await store.join(ana, "Ana"), { joined: false, refused: "barred" });
      assert.equal(store.members.has(ana), false);
      // A key that never joined may be barred; a bar queued in the same batch as the join wins (the
      // rule is applied inside the write, not when the join is asked for).
      const [bar, raced] = await Promise.all([store.bar(bo), store.join(bo, "Bo")]);
      assert.deepEqual(bar, { barred: true });
      assert.deepEqual(raced, { joined: false, refused: "barred" });
      assert.deepEqual(await store.unbar(ana), { unbarred: true });
      assert.deepEqual(await store.unbar(ana), { unbarred: false });
      assert.deepEqual(await store.join(ana, "Ana"), { joined: true });
      assert.deepEqual([...store.barred], [bo]);
    });

    test("invite-only: the owner, members and invited ids join, others are refused", async (t) => {
      const store = await opener(t)();
      const [owner, old, guest, stranger] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      await store.setOwner(owner);
      await store.join(old, "Old");
      const [switched, refused] = await Promise.all([store.setInviteOnly(true), store.join(stranger, "S")]);
      assert.deepEqual(switched, { changed: true });
      assert.deepEqual(refused, { joined: false, refused: "not invited" }, "the switch wins a join in its batch");
      assert.deepEqual(await store.setInviteOnly(true), { changed: false });
      assert.equal(store.inviteOnly, true);
      assert.deepEqual(await store.join(owner, "Owner"), { joined: true });
      assert.deepEqual(await store.join(old, "Old renamed"), { joined: false });
      assert.deepEqual(await store.invite(guest), { invited: true });
      assert.deepEqual(await store.invite(guest), { invited: false });
      assert.deepEqual(await store.join(guest, "Guest"), { joined: true });
      assert.deepEqual(await store.uninvite(guest), { dropped: 1 });
      await store.leave(guest);
      assert.deepEqual(await store.join(guest, "Guest"), { joined: false, refused: "not invited" });
      await store.setInviteOnly(false);
      assert.deepEqual(await store.join(stranger, "S"), { joined: true });
    });

    test("a fingerprint invite lets exactly one key in: the first that joins, whose id it becomes", async (t) => {
      const store = await opener(t)();
      await store.setInviteOnly(true);
      const first = "0badcafe-0000-8000-8000-000000000001";
      const second = "0badcafe-0000-8000-8000-000000000002";
      await store.invite("0badcafe");
      assert.deepEqual(await store.join(randomUUID().replace(/^./, "1"), "Other"), {
        joined: false,
        refused: "not invited",
      });
      assert.deepEqual(await store.join(first, "First"), { joined: true });
      assert.deepEqual([...store.invites], [first]);
      assert.deepEqual(await store.join(second, "Second"), { joined: false, refused: "not invited" });
    });

    test("owner, invite-only, bars and invites survive close and reopen", async (t) => {
      const open = opener(t);
      const store = await open("general");
      const [owner, barred, invited] = [randomUUID(), randomUUID(), randomUUID()];
      await Promise.all([
        store.setOwner(owner),
        store.setInviteOnly(true),
        store.bar(barred),
        store.invite(invited),
        store.invite("abcdef0123"),
      ]);
      await store.close();
      const again = await open("general");
      assert.equal(again.owner, owner);
      assert.equal(again.inviteOnly, true);
      assert.deepEqual([...again.barred], [barred]);
      assert.deepEqual([...again.invites].sort(), [invited, "abcdef0123"].sort());
      await assert.rejects(store.bar(randomUUID()), { name: "StoreError" });
    });

    test("identity, members and messages survive close and reopen; a closed store refuses writes", async (t) => {
      const open = opener(t);
      const store = await open("general");
      await store.join(USER, "Ana");
      const sent = await store.append(msg("kept"));
      const { id, createdAt } = store;
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      await store.close();
      await store.close();
      await assert.rejects(store.append(msg("late")), { name: "StoreError", message: /closed/ });
      await assert.rejects(store.join(randomUUID(), "Bo"), { name: "StoreError" });

      const again = await open("general");
      assert.equal(again.id, id);
      assert.equal(again.createdAt, createdAt);
      assert.equal(again.name, "general");
      assert.equal(again.durableSeq, 1);
      assert.equal(again.members.get(USER)?.name, "Ana");
      assert.equal((await again.append(msg("next"))).seq, sent.seq + 1);
      const other = await open("random");
      assert.notEqual(other.id, id, "each group has its own id");
    });

    test("a group held by one store is refused to a second, until the first closes", async (t) => {
      const open = opener(t);
      const first = await open("general");
      await assert.rejects(open("general"), { name: "StoreError", message: /group "general" is already served/ });
      await first.close();
      assert.equal((await open("general")).id, first.id);
    });
  });
}
