/**
 * MEMBERS (PROTOCOL.md §MEMBERS): who is in a group and who follows it now. Presence and the page
 * builder on their own (with a clock the test moves), then the handler on a real GroupServer with
 * real sockets on 127.0.0.1, on the in-memory store, insecure and with keys.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, type TestContext, test } from "node:test";
import { GroupServer } from "../../src/group/group-server.js";
import { isOnline, membersPage, Presence } from "../../src/group/members.js";
import { RpcClient } from "../../src/net/rpc-client.js";
import { newKeyPair, userIdOf } from "../../src/protocol/keys.js";
import { ONLINE_WINDOW_MS, SUBSCRIBE_REFRESH_MS } from "../../src/protocol/timing.js";
import type { MemberEntry, MembersPage } from "../../src/protocol/types.js";
import { memoryStores } from "../../src/store/memory.js";
import type { Member } from "../../src/store/types.js";

const LOOPBACK = "tcp://127.0.0.1:*";

const membersOf = (...users: string[]): Map<string, Member> =>
  new Map(users.map((user, i) => [user, { user, name: `N${i}`, joined: 1000 + i }]));
const plain = (m: Member): MemberEntry => ({ user: m.user, name: m.name, joined: m.joined, online: false, seen: null });

describe("Presence", () => {
  test("a member is online for two refresh periods after a SUBSCRIBE, then not", () => {
    let now = 50_000;
    const presence = new Presence(() => now);
    const members = membersOf("a", "b");
    assert.equal(ONLINE_WINDOW_MS, 2 * SUBSCRIBE_REFRESH_MS);
    assert.equal(presence.age("g", "a"), undefined);
    assert.equal(isOnline(presence.age("g", "a")), false, "never seen: offline");
    presence.followed("g", "a", members);
    assert.equal(presence.age("g", "a"), 0);
    now += ONLINE_WINDOW_MS;
    assert.equal(isOnline(presence.age("g", "a")), true, "at the edge of the window: still online");
    now += 1;
    assert.equal(isOnline(presence.age("g", "a")), false);
    presence.followed("g", "a", members);
    assert.equal(isOnline(presence.age("g", "a")), true, "a refresh brings it back");
    assert.equal(presence.age("other", "a"), undefined, "per group");
    presence.forget("g", "a");
    assert.equal(presence.age("g", "a"), undefined);
  });

  test("holds no more entries than the group had members at its latest SUBSCRIBE", () => {
    const presence = new Presence(() => 0);
    const members = membersOf("a", "b", "c");
    for (const u of ["a", "b", "c"]) presence.followed("g", u, members);
    assert.equal(presence.size("g"), 3);
    // Two leave without passing through forget() (a claim, a failed write undone): swept next time.
    members.delete("a");
    members.delete("b");
    presence.followed("g", "c", members);
    assert.equal(presence.size("g"), 1);
    for (let i = 0; i < 100; i++) {
      const u = `u${i}`;
      members.set(u, { user: u, name: u, joined: 0 });
      presence.followed("g", u, members);
      assert.ok(presence.size("g") <= members.size, `after ${i}: ${presence.size("g")} entries`);
      members.delete(u); // gone without forget(): swept at the next SUBSCRIBE
    }
  });
});

describe("membersPage", () => {
  const ids = Array.from({ length: 25 }, () => randomUUID());
  const members = membersOf(...ids);
  const sorted = [...ids].sort();

  test("lists by user id from the cursor, at most limit, with more", () => {
    const first = membersPage(members, plain, { limit: 10 });
    assert.deepEqual(
      first.entries.map((e) => e.user),
      sorted.slice(0, 10),
    );
    assert.equal(first.more, true);
    const last = membersPage(members, plain, { limit: 10, after: sorted[19] as string });
    assert.deepEqual(
      last.entries.map((e) => e.user),
      sorted.slice(20),
    );
    assert.equal(last.more, false);
    assert.deepEqual(membersPage(members, plain, { limit: 25 }).more, false, "exactly all: no more");
    assert.deepEqual(membersPage(members, plain, { limit: 5, after: sorted[24] as string }), {
      entries: [],
      more: false,
    });
  });

  test("picks the same members as sorting them all would, for every limit and cursor", () => {
    for (let limit = 1; limit <= 30; limit++) {
      for (const after of [undefined, ...sorted]) {
        const above = sorted.filter((u) => after === undefined || u > after);
        const page = membersPage(members, plain, { limit, ...(after !== undefined && { after }) });
        assert.deepEqual(
          page.entries.map((e) => e.user),
          above.slice(0, limit),
          `limit ${limit} after ${after}`,
        );
        assert.equal(page.more, above.length > limit);
      }
    }
  });

  test("paging lists every member present throughout exactly once, whoever joins or leaves meanwhile", () => {
    const live = new Map(members);
    const seen: string[] = [];
    let after: string | undefined;
    let previous: string | undefined;
    for (let round = 0; ; round++) {
      const page = membersPage(live, plain, { limit: 4, ...(after !== undefined && { after }) });
      seen.push(...page.entries.map((e) => e.user));
      // Churn between pages: someone new joins, and the previous newcomer leaves again.
      const newcomer = randomUUID();
      if (previous !== undefined) live.delete(previous);
      live.set(newcomer, { user: newcomer, name: "new", joined: 0 });
      previous = newcomer;
      if (!page.more) break;
      after = page.entries.at(-1)?.user;
      assert.ok(round < 100);
    }
    for (const id of ids) assert.equal(seen.filter((u) => u === id).length, 1, id);
    assert.equal(new Set(seen).size, seen.length, "no one twice");
  });

  test("ends a page before the entry that would pass the byte budget, but never empty", () => {
    const page = membersPage(members, plain, { limit: 25, maxBytes: 400 });
    const json = JSON.stringify(page.entries);
    assert.ok(Buffer.byteLength(json) <= 400, `${Buffer.byteLength(json)} bytes`);
    assert.ok(page.entries.length > 1 && page.entries.length < 25);
    assert.equal(page.more, true);
    const tiny = membersPage(members, plain, { limit: 25, maxBytes: 10 });
    assert.equal(tiny.entries.length, 1, "one entry even over the budget");
    assert.equal(tiny.more, true);
  });
});

/** An insecure group server on memory stores, and one client of it; both closed after the test. */
async function serve(t: TestContext) {
  const server = await GroupServer.start({ names: ["general", "random"], bind: LOOPBACK, openStore: memoryStores() });
  t.after(() => server.close());
  const client = new RpcClient(server.endpoint, { timeoutMs: 5000, tries: 1 });
  t.after(() => client.close());
  const request = <T = Record<string, unknown>>(command: string, body: Record<string, unknown>) =>
    client.request<T>(command, body);
  return { server, request };
}

describe("GroupServer MEMBERS on the memory store", () => {
  test("lists every member with name and join time; online is whoever sent SUBSCRIBE lately", async (t) => {
    const s = await serve(t);
    const [ana, bo, cy] = [randomUUID(), randomUUID(), randomUUID()];
    for (const [user, name] of [
      [ana, "Ana"],
      [bo, "Bo"],
      [cy, "Cy"],
    ] as const) {
      await s.request("JOIN", { group: "general", user, name });
    }
    await s.request("JOIN", { group: "random", user: ana, name: "Ana" });
    const before = Date.now();
    await s.request("SUBSCRIBE", { group: "general", user: bo });
    const after = Date.now();
    const reply = await s.request<MembersPage>("MEMBERS", { group: "GENERAL", user: ana });
    assert.deepEqual(
      { ...reply, members: [] },
      { group: "general", members: [], more: false, count: 3, owner: null, window: ONLINE_WINDOW_MS },
    );
    assert.deepEqual(
      reply.members.map((m) => m.user),
      [ana, bo, cy].sort(),
      "ordered by user id",
    );
    const byUser = new Map(reply.members.map((m) => [m.user, m]));
    assert.equal(byUser.get(ana)?.name, "Ana");
    assert.ok((byUser.get(ana)?.joined ?? 0) <= before);
    assert.equal(byUser.get(bo)?.online, true);
    const seen = byUser.get(bo)?.seen ?? 0;
    // `seen` is the wall clock at the reply less the age on the monotonic clock, two reads that a
    // loaded machine can set a few ms apart (3 ms once): it may come out a little early, never late.
    assert.ok(seen >= before - 100 && seen <= after + 1, `seen ${seen} within [${before} - 100, ${after}]`);
    for (const u of [ana, cy]) assert.deepEqual([byUser.get(u)?.online, byUser.get(u)?.seen], [false, null]);
    const random = await s.request<MembersPage>("MEMBERS", { group: "random", user: ana });
    assert.deepEqual(
      random.members.map((m) => [m.user, m.online]),
      [[ana, false]],
      "following general says nothing about random",
    );

    // A member who leaves is forgotten: back again, they are offline until they SUBSCRIBE.
    await s.request("LEAVE", { group: "general", user: bo });
    await s.request("JOIN", { group: "general", user: bo, name: "Bo" });
    const again = await s.request<MembersPage>("MEMBERS", { group: "general", user: ana });
    assert.deepEqual(
      again.members.filter((m) => m.user === bo).map((m) => [m.online, m.seen]),
      [[false, null]],
    );
  });

  test("members only; after and limit are checked", async (t) => {
    const s = await serve(t);
    const ana = randomUUID();
    await s.request("JOIN", { group: "general", user: ana, name: "Ana" });
    await assert.rejects(s.request("MEMBERS", { group: "general", user: randomUUID() }), {
      code: "NOT_MEMBER",
      status: "400",
      message: 'you are not a member of "general"; join it first',
    });
    await assert.rejects(s.request("MEMBERS", { group: "general" }), { code: "BAD_REQUEST" });
    for (const bad of [{ after: "nope" }, { limit: 0 }, { limit: 1001 }, { limit: "5" }]) {
      await assert.rejects(s.request("MEMBERS", { group: "general", user: ana, ...bad }), {
        code: "BAD_REQUEST",
        status: "400",
      });
    }
  });

  test("pages by user id, and a page stays within 64 KiB of JSON whatever the names", async (t) => {
    const s = await serve(t);
    // 300 members named with 64 four-byte characters: ~400 bytes each as JSON, ~120 KB in all.
    const users = Array.from({ length: 300 }, () => randomUUID());
    const name = "😀".repeat(64);
    await Promise.all(users.map((user) => s.request("JOIN", { group: "general", user, name })));
    const viewer = users[0] as string;
    const listed: string[] = [];
    let after: string | undefined;
    let pages = 0;
    for (;;) {
      const page = await s.request<MembersPage>("MEMBERS", {
        group: "general",
        user: viewer,
        limit: 1000,
        ...(after !== undefined && { after }),
      });
      pages++;
      assert.ok(Buffer.byteLength(JSON.stringify(page.members)) <= 64 * 1024);
      assert.equal(page.count, 300);
      listed.push(...page.members.map((m) => m.user));
      if (!page.more) break;
      after = page.members.at(-1)?.user;
    }
    assert.ok(pages >= 2, `${pages} pages`);
    assert.deepEqual(listed, [...users].sort());
    const small = await s.request<MembersPage>("MEMBERS", { group: "general", user: viewer, limit: 7 });
    assert.equal(small.members.length, 7);
    assert.equal(small.more, true);
  });
});

describe("GroupServer MEMBERS with keys", () => {
  test("the owner may list a group they left; any other non-member gets NOT_MEMBER", async (t) => {
    const keys = newKeyPair();
    const server = await GroupServer.start({ names: ["general"], bind: LOOPBACK, keys, openStore: memoryStores() });
    t.after(() => server.close());
    const client = () => {
      const own = newKeyPair();
      const rpc = new RpcClient(server.endpoint, {
        timeoutMs: 5000,
        tries: 1,
        security: { keys: own, serverKey: keys.publicKey },
      });
      t.after(() => rpc.close());
      const id = userIdOf(own.publicKey);
      return { id, request: <T>(command: string, body: object) => rpc.request<T>(command, { ...body, user: id }) };
    };
    const [owner, bo, stranger] = [client(), client(), client()];
    await owner.request("JOIN", { group: "general", name: "Olga" }); // the first to join owns the group
    await bo.request("JOIN", { group: "general", name: "Bo" });
    await owner.request("LEAVE", { group: "general" });
    const reply = await owner.request<MembersPage>("MEMBERS", { group: "general" });
    assert.equal(reply.owner, owner.id);
    assert.deepEqual(
      reply.members.map((m) => m.user),
      [bo.id],
    );
    assert.equal((await bo.request<MembersPage>("MEMBERS", { group: "general" })).owner, owner.id);
    await assert.rejects(stranger.request("MEMBERS", { group: "general" }), { code: "NOT_MEMBER" });
  });
});
