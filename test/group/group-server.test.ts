/**
 * The group server's handlers (JOIN, LEAVE, SEND, HISTORY, INFO, SUBSCRIBE, PING) and its start
 * wiring, on a real GroupServer with real sockets on 127.0.0.1 and a real RpcClient, on the
 * in-memory store: no SQLite here (its own tests are test/store/).
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, type TestContext, test } from "node:test";
import * as zmq from "zeromq";
import { GroupServer } from "../../src/group/group-server.js";
import { RpcClient } from "../../src/net/rpc-client.js";
import { decodeEvent } from "../../src/protocol/codec.js";
import type { AppendResult, StoredMessage } from "../../src/protocol/types.js";
import { MemoryGroupStore, memoryStores } from "../../src/store/memory.js";
import type { GroupStore, StoreFactory } from "../../src/store/types.js";

const LOOPBACK = "tcp://127.0.0.1:*";

/** A group server on `openStore` (default: fresh memory stores) and a client of it; both closed after the test. */
async function serve(t: TestContext, options: { names?: string[]; openStore?: StoreFactory } = {}) {
  const server = await GroupServer.start({
    names: options.names ?? ["general", "random"],
    bind: LOOPBACK,
    openStore: options.openStore ?? memoryStores(),
  });
  t.after(() => server.close());
  const client = new RpcClient(server.endpoint, { timeoutMs: 5000, tries: 1 });
  t.after(() => client.close());
  const request = <T = Record<string, unknown>>(command: string, body: Record<string, unknown>) =>
    client.request<T>(command, body);
  const idOf = (group: string) => server.details().find((g) => g.name === group)?.id as string;
  const stored = () => Object.fromEntries(server.details().map((g) => [g.name, g.messages]));
  return { server, request, idOf, stored };
}

type Served = Awaited<ReturnType<typeof serve>>;

/** `user` joins `group` as `name`, then sends each text; resolves with the SEND replies. */
async function member(s: Served, group: string, user: string, name: string, texts: string[] = []) {
  await s.request("JOIN", { group, user, name });
  const sent: AppendResult[] = [];
  for (const text of texts) sent.push(await s.request<AppendResult>("SEND", { group, user, id: randomUUID(), text }));
  return sent;
}

const messagesOf = (reply: { messages: unknown }) => reply.messages as StoredMessage[];

describe("GroupServer on the memory store: JOIN and LEAVE", () => {
  test("JOIN adds a member; joining again renames and reports joined: false", async (t) => {
    const s = await serve(t);
    const [ana, bo] = [randomUUID(), randomUUID()];
    assert.deepEqual(await s.request("JOIN", { group: "general", user: ana, name: "Ana" }), {
      group: "general",
      id: s.idOf("general"),
      members: 1,
      joined: true,
      last: 0,
    });
    await s.request("JOIN", { group: "general", user: bo, name: "Bo" });
    const again = await s.request("JOIN", { group: "general", user: ana, name: "Ana B." });
    assert.deepEqual(again, { group: "general", id: s.idOf("general"), members: 2, joined: false, last: 0 });
    await s.request("SEND", { group: "general", user: ana, id: randomUUID(), text: "hi" });
    const history = await s.request<{ messages: StoredMessage[] }>("HISTORY", { group: "general", user: bo });
    assert.equal(messagesOf(history)[0]?.name, "Ana B.", "a message carries the name of the latest join");
    assert.equal(s.server.details().find((g) => g.name === "random")?.members, 0, "groups are separate");
  });

  test("LEAVE removes the member, who can then neither send nor read; leaving again is left: false", async (t) => {
    const s = await serve(t);
    const [ana, bo] = [randomUUID(), randomUUID()];
    await member(s, "general", ana, "Ana", ["one"]);
    await member(s, "general", bo, "Bo");
    assert.deepEqual(await s.request("LEAVE", { group: "general", user: ana }), {
      group: "general",
      members: 1,
      left: true,
    });
    assert.deepEqual(await s.request("LEAVE", { group: "general", user: ana }), {
      group: "general",
      members: 1,
      left: false,
    });
    await assert.rejects(s.request("SEND", { group: "general", user: ana, id: randomUUID(), text: "x" }), {
      code: "NOT_MEMBER",
      status: "400",
    });
    await assert.rejects(s.request("HISTORY", { group: "general", user: ana }), { code: "NOT_MEMBER" });
    assert.deepEqual(s.stored(), { general: 1, random: 0 });
  });
});

describe("GroupServer on the memory store: SEND", () => {
  test("stores each message with the next seq and replies with it", async (t) => {
    const s = await serve(t);
    const ana = randomUUID();
    const sent = await member(s, "general", ana, "Ana", ["one", "two", "three"]);
    assert.deepEqual(
      sent.map((r) => [r.seq, r.duplicate]),
      [
        [1, false],
        [2, false],
        [3, false],
      ],
    );
    assert.ok(sent.every((r) => Number.isSafeInteger(r.ts) && r.ts > 0));
    const other = await member(s, "random", ana, "Ana", ["elsewhere"]);
    assert.equal(other[0]?.seq, 1, "each group has its own sequence");
    assert.deepEqual(s.stored(), { general: 3, random: 1 });
  });

  test("a retried id returns the original seq and ts, stores nothing, and publishes nothing", async (t) => {
    const s = await serve(t);
    const ana = randomUUID();
    await s.request("JOIN", { group: "general", user: ana, name: "Ana" });
    const id = randomUUID();
    const first = await s.request<AppendResult>("SEND", { group: "general", user: ana, id, text: "once" });
    await s.request("SEND", { group: "general", user: ana, id: randomUUID(), text: "between" });
    const retry = await s.request("SEND", { group: "general", user: ana, id, text: "once" });
    assert.deepEqual(retry, { seq: first.seq, ts: first.ts, duplicate: true });
    const upper = await s.request("SEND", { group: "general", user: ana, id: id.toUpperCase(), text: "once" });
    assert.deepEqual(upper, { seq: first.seq, ts: first.ts, duplicate: true });
    const history = await s.request<{ messages: StoredMessage[] }>("HISTORY", { group: "general", user: ana });
    assert.deepEqual(
      messagesOf(history).map((m) => [m.seq, m.text]),
      [
        [1, "once"],
        [2, "between"],
      ],
    );
  });

  test("a non-member's SEND is refused with NOT_MEMBER and stores nothing", async (t) => {
    const s = await serve(t);
    await member(s, "general", randomUUID(), "Ana", ["one"]);
    const stranger = randomUUID();
    await assert.rejects(s.request("SEND", { group: "general", user: stranger, id: randomUUID(), text: "x" }), {
      name: "RemoteError",
      code: "NOT_MEMBER",
      status: "400",
      message: 'you are not a member of "general"; join it first',
    });
    assert.deepEqual(s.stored(), { general: 1, random: 0 });
  });

  test("a group this server does not host is UNKNOWN_GROUP, naming the groups it hosts", async (t) => {
    const s = await serve(t);
    const user = randomUUID();
    for (const [command, body] of [
      ["JOIN", { user, name: "Ana" }],
      ["SEND", { user, id: randomUUID(), text: "x" }],
      ["HISTORY", { user }],
      ["INFO", {}],
      ["SUBSCRIBE", { user }],
      ["MEMBERS", { user }],
      ["LEAVE", { user }],
      ["REMOVE", { user, member: randomUUID() }],
      ["UNBAR", { user, member: randomUUID() }],
      ["INVITE", { user, invitee: randomUUID() }],
      ["SETTINGS", { user, inviteOnly: true }],
    ] as const) {
      await assert.rejects(s.request(command, { group: "nowhere", ...body }), {
        code: "UNKNOWN_GROUP",
        status: "400",
        message: 'no group "nowhere" on this server; it hosts "general", "random"',
      });
    }
    assert.deepEqual(s.stored(), { general: 0, random: 0 });
  });
});

describe("GroupServer on the memory store: HISTORY, INFO, SUBSCRIBE, PING", () => {
  test("HISTORY pages oldest first, with more and last; after, before, since and limit select", async (t) => {
    const s = await serve(t);
    const ana = randomUUID();
    const sent = await member(s, "general", ana, "Ana", ["m1", "m2", "m3", "m4", "m5"]);
    type Page = { group: string; messages: StoredMessage[]; more: boolean; last: number };
    const history = async (query: Record<string, unknown>) => {
      const page = await s.request<Page>("HISTORY", { group: "general", user: ana, ...query });
      assert.equal(page.group, "general");
      assert.equal(page.last, 5);
      return { texts: page.messages.map((m) => m.text), more: page.more };
    };
    const all = await s.request<Page>("HISTORY", { group: "general", user: ana });
    assert.deepEqual(all.messages[0], {
      seq: 1,
      ts: sent[0]?.ts,
      id: all.messages[0]?.id,
      user: ana,
      name: "Ana",
      text: "m1",
    });
    assert.match(all.messages[0]?.id ?? "", /^[0-9a-f-]{36}$/);
    assert.deepEqual(await history({}), { texts: ["m1", "m2", "m3", "m4", "m5"], more: false });
    assert.deepEqual(await history({ limit: 2 }), { texts: ["m1", "m2"], more: true });
    assert.deepEqual(await history({ after: 3 }), { texts: ["m4", "m5"], more: false });
    assert.deepEqual(await history({ before: 5, limit: 2 }), { texts: ["m3", "m4"], more: true });
    assert.deepEqual(await history({ before: 3 }), { texts: ["m1", "m2"], more: false });
    const ts4 = sent[3]?.ts as number;
    assert.deepEqual(await history({ since: ts4 }), {
      texts: sent.filter((r) => r.ts >= ts4).map((r) => `m${r.seq}`),
      more: false,
    });
    assert.deepEqual(await history({ since: (sent[4]?.ts as number) + 1 }), { texts: [], more: false });
    await assert.rejects(s.request("HISTORY", { group: "general", user: ana, after: 1, before: 4 }), {
      code: "BAD_REQUEST",
      message: 'give at most one of "after" and "before"',
    });
    await assert.rejects(s.request("HISTORY", { group: "general", user: ana, limit: 0 }), { code: "BAD_REQUEST" });
    await assert.rejects(s.request("HISTORY", { group: "general", user: randomUUID() }), { code: "NOT_MEMBER" });
  });

  test("HISTORY's until bounds the time, alone or with since and a cursor", async (t) => {
    const s = await serve(t);
    const ana = randomUUID();
    const sent: AppendResult[] = [];
    await s.request("JOIN", { group: "general", user: ana, name: "Ana" });
    for (const text of ["m1", "m2", "m3", "m4", "m5"]) {
      // Each in its own millisecond, so that each has its own ts.
      while (Date.now() <= (sent.at(-1)?.ts ?? 0)) await new Promise((r) => setImmediate(r));
      sent.push(await s.request<AppendResult>("SEND", { group: "general", user: ana, id: randomUUID(), text }));
    }
    const ts = (seq: number) => sent[seq - 1]?.ts as number;
    const texts = async (query: Record<string, unknown>) => {
      const page = await s.request<{ messages: StoredMessage[]; more: boolean; last: number }>("HISTORY", {
        group: "general",
        user: ana,
        ...query,
      });
      assert.equal(page.last, 5);
      return { texts: page.messages.map((m) => m.text), more: page.more };
    };
    assert.deepEqual(await texts({ until: ts(4) }), { texts: ["m1", "m2", "m3"], more: false });
    assert.deepEqual(await texts({ since: ts(2), until: ts(4) }), { texts: ["m2", "m3"], more: false });
    assert.deepEqual(await texts({ before: 9007199254740991, until: ts(5), limit: 2 }), {
      texts: ["m3", "m4"],
      more: true,
    });
    assert.deepEqual(await texts({ before: 9007199254740991, since: ts(4), limit: 5 }), {
      texts: ["m4", "m5"],
      more: false,
    });
    assert.deepEqual(await texts({ after: 1, since: ts(3), limit: 1 }), { texts: ["m3"], more: true });
  });

  test("SEARCH finds members' messages by their words, newest first, paged; strangers get NOT_MEMBER", async (t) => {
    const s = await serve(t);
    const [ana, bo] = [randomUUID(), randomUUID()];
    await member(s, "general", ana, "Ana", ["lunch at noon?", "the Lunch place is closed", "dinner then"]);
    await member(s, "general", bo, "Bo", ["LUNCH: tomorrow at noon", "ok"]);
    await member(s, "random", bo, "Bo", ["lunch elsewhere"]);
    type Page = { group: string; messages: StoredMessage[]; more: boolean; last: number };
    const search = (body: Record<string, unknown>) =>
      s.request<Page>("SEARCH", { group: "general", user: ana, ...body });
    const found = await search({ query: "lunch" });
    assert.equal(found.group, "general");
    assert.equal(found.last, 5);
    assert.equal(found.more, false);
    assert.deepEqual(
      found.messages.map((m) => [m.seq, m.name, m.text]),
      [
        [4, "Bo", "LUNCH: tomorrow at noon"],
        [2, "Ana", "the Lunch place is closed"],
        [1, "Ana", "lunch at noon?"],
      ],
    );
    assert.deepEqual(Object.keys(found.messages[0] ?? {}), ["seq", "ts", "id", "user", "name", "text"]);
    const texts = async (body: Record<string, unknown>) => {
      const page = await search(body);
      return { texts: page.messages.map((m) => m.text), more: page.more };
    };
    assert.deepEqual(await texts({ query: "  noon   LUNCH " }), {
      texts: ["LUNCH: tomorrow at noon", "lunch at noon?"],
      more: false,
    });
    assert.deepEqual(await texts({ query: "lunch", limit: 2 }), {
      texts: ["LUNCH: tomorrow at noon", "the Lunch place is closed"],
      more: true,
    });
    assert.deepEqual(await texts({ query: "lunch", limit: 2, before: 2 }), { texts: ["lunch at noon?"], more: false });
    // FTS5 syntax in a query is words: `"lunch" OR x*` needs the words lunch, or and x.
    assert.deepEqual(await texts({ query: '"lunch" OR x*' }), { texts: [], more: false });
    assert.deepEqual(await texts({ query: '"lunch" AT noon?' }), {
      texts: ["LUNCH: tomorrow at noon", "lunch at noon?"],
      more: false,
    });
    assert.deepEqual(await texts({ query: "NEAR(lunch" }), { texts: [], more: false });
    await assert.rejects(s.request("SEARCH", { group: "general", user: randomUUID(), query: "lunch" }), {
      code: "NOT_MEMBER",
    });
    await assert.rejects(search({ query: "* ( )" }), { code: "BAD_REQUEST", message: /"query" has no word/ });
    await assert.rejects(search({ query: "lunch", limit: 1001 }), { code: "BAD_REQUEST", message: /"limit"/ });
    await assert.rejects(s.request("SEARCH", { group: "nowhere", user: ana, query: "x" }), { code: "UNKNOWN_GROUP" });
  });

  test("INFO describes the group to anyone; PING names the groups", async (t) => {
    const s = await serve(t);
    const before = Date.now();
    assert.equal((await s.request("INFO", { group: "general" })).lastTs, null, "no message yet");
    const [, second] = await member(s, "general", randomUUID(), "Ana", ["one", "two"]);
    const info = await s.request<Record<string, unknown>>("INFO", { group: "general" });
    assert.deepEqual(info, {
      id: s.idOf("general"),
      name: "general",
      created: info.created,
      members: 1,
      last: 2,
      lastTs: second?.ts,
      address: s.server.address,
      events: s.server.events,
      owner: null, // a server without keys takes no owner on trust (moderation.test.ts)
      inviteOnly: false,
    });
    assert.ok(typeof info.created === "number" && info.created <= before);
    assert.match(s.server.events, /^tcp:\/\/127\.0\.0\.1:\d+$/);
    assert.deepEqual(await s.request("PING", {}), { role: "group", groups: ["general", "random"] });
  });

  test("SUBSCRIBE tells a member where live messages are; a subscriber there gets each new one and LEFT", async (t) => {
    const s = await serve(t);
    const [ana, bo] = [randomUUID(), randomUUID()];
    await member(s, "general", ana, "Ana", ["before"]);
    await member(s, "general", bo, "Bo");
    const sub = await s.request<{ group: string; events: string; topic: string; last: number; refresh: number }>(
      "SUBSCRIBE",
      { group: "general", user: bo },
    );
    assert.deepEqual(sub, {
      group: "general",
      events: s.server.events,
      topic: sub.topic,
      last: 1,
      refresh: sub.refresh,
    });
    assert.match(sub.topic, /^M[A-Za-z0-9_-]{36}$/, "M and 36 base64url characters");
    assert.ok(!sub.topic.includes(s.idOf("general")), "not derived from the group's public id");
    assert.ok(sub.refresh > 0);
    await assert.rejects(s.request("SUBSCRIBE", { group: "general", user: randomUUID() }), { code: "NOT_MEMBER" });

    const live = new zmq.Subscriber({ linger: 0 });
    t.after(() => live.close());
    live.connect(sub.events);
    live.subscribe(sub.topic);
    live.subscribe("Hhandler-test");
    const hello = decodeEvent(await live.receive());
    assert.equal(hello.type === "event" && hello.kind, "HELLO", "subscribed before anything is sent");

    const id = randomUUID();
    const sent = await s.request<AppendResult>("SEND", { group: "general", user: ana, id, text: "live" });
    await s.request("SEND", { group: "general", user: ana, id, text: "live" }); // a retry: not published again
    await s.request("LEAVE", { group: "general", user: ana });
    const events = [decodeEvent(await live.receive()), decodeEvent(await live.receive())];
    assert.deepEqual(events, [
      {
        type: "event",
        topic: sub.topic,
        kind: "MESSAGE",
        body: { seq: 2, ts: sent.ts, id, user: ana, name: "Ana", text: "live" },
      },
      { type: "event", topic: sub.topic, kind: "LEFT", body: { user: ana } },
    ]);
  });

  test("each group has its own topic; a LEAVE that removed a member replaces it, one that did not keeps it", async (t) => {
    const s = await serve(t);
    const [ana, bo] = [randomUUID(), randomUUID()];
    await member(s, "general", ana, "Ana");
    await member(s, "general", bo, "Bo");
    await member(s, "random", bo, "Bo");
    const topic = async (group: string) => (await s.request<{ topic: string }>("SUBSCRIBE", { group, user: bo })).topic;
    const [general, random] = [await topic("general"), await topic("random")];
    assert.notEqual(general, random);
    assert.equal(await topic("general"), general, "the same until someone leaves");

    await s.request("LEAVE", { group: "general", user: randomUUID() }); // left: false
    assert.equal(await topic("general"), general);
    await s.request("LEAVE", { group: "general", user: ana });
    const next = await topic("general");
    assert.notEqual(next, general);
    assert.match(next, /^M[A-Za-z0-9_-]{36}$/);
    assert.equal(await topic("random"), random, "another group's topic is not affected");
  });
});

describe("GroupServer.start and its store factory", () => {
  test("a restart on the same stores finds each group as it was: same id, members and sequence", async (t) => {
    const stores = memoryStores();
    const ana = randomUUID();
    const first = await GroupServer.start({ names: ["general"], bind: LOOPBACK, openStore: stores });
    let running = true;
    t.after(() => (running ? first.close() : undefined));
    const client = new RpcClient(first.endpoint, { timeoutMs: 5000, tries: 1 });
    t.after(() => client.close());
    await client.request("JOIN", { group: "general", user: ana, name: "Ana" });
    await client.request("SEND", { group: "general", user: ana, id: randomUUID(), text: "one" });
    const oldTopic = (await client.request<{ topic: string }>("SUBSCRIBE", { group: "general", user: ana })).topic;
    const [before] = first.details();
    // While it runs, a second server cannot hold the same group.
    await assert.rejects(GroupServer.start({ names: ["general"], bind: LOOPBACK, openStore: stores }), {
      name: "StoreError",
      message: /group "general" is already served/,
    });
    running = false;
    await first.close();

    const s = await serve(t, { names: ["general"], openStore: stores });
    assert.deepEqual(s.server.details()[0] && { ...s.server.details()[0], address: "", events: "" }, {
      ...before,
      address: "",
      events: "",
    });
    const next = await s.request<AppendResult>("SEND", { group: "general", user: ana, id: randomUUID(), text: "two" });
    assert.equal(next.seq, 2);
    const { topic } = await s.request<{ topic: string }>("SUBSCRIBE", { group: "general", user: ana });
    assert.notEqual(topic, oldTopic, "a new topic for each run of the server");
  });

  test("the factory may be async; when it refuses a group, the stores already opened are closed", async (t) => {
    const stores = memoryStores();
    const opened: string[] = [];
    const closed: string[] = [];
    const refusing: StoreFactory = async (name) => {
      if (name === "broken") throw new Error(`cannot open "${name}"`);
      const store = (await stores(name)) as GroupStore;
      opened.push(name);
      const close = store.close.bind(store);
      store.close = async () => {
        closed.push(name);
        await close();
      };
      return store;
    };
    await assert.rejects(
      GroupServer.start({ names: ["general", "random", "broken"], bind: LOOPBACK, openStore: refusing }),
      { message: 'cannot open "broken"' },
    );
    assert.deepEqual(opened, ["general", "random"]);
    assert.deepEqual(closed.sort(), ["general", "random"]);
    // Released: a server can hold them now.
    const s = await serve(t, { openStore: refusing });
    assert.deepEqual(await s.request("PING", {}), { role: "group", groups: ["general", "random"] });
  });

  test("names are checked before any store is opened", async () => {
    let calls = 0;
    const counting: StoreFactory = (name) => {
      calls++;
      return new MemoryGroupStore(name);
    };
    await assert.rejects(GroupServer.start({ names: [], bind: LOOPBACK, openStore: counting }), {
      code: "BAD_REQUEST",
    });
    await assert.rejects(GroupServer.start({ names: ["a", "a"], bind: LOOPBACK, openStore: counting }), {
      message: /^each group name may be given once; "a" is given twice$/,
    });
    await assert.rejects(GroupServer.start({ names: ["a", "A"], bind: LOOPBACK, openStore: counting }), {
      code: "BAD_REQUEST",
      message: /"a" and "A" are one group name/,
    });
    await assert.rejects(GroupServer.start({ names: ["bad name"], bind: LOOPBACK, openStore: counting }), {
      code: "BAD_REQUEST",
    });
    assert.equal(calls, 0);
  });
});
