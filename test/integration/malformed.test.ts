/**
 * Raw, malformed traffic against a real directory and a real group server (in-process, real
 * sockets and SQLite files), in plain text and again over CURVE (where a body that parses is
 * signed, so the error is the malformation's and not AUTH_REQUIRED): every bad request gets the
 * specific error reply, nothing is stored, and the servers keep serving well-formed clients.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, type TestContext, test } from "node:test";
import * as zmq from "zeromq";
import { Directory } from "../../src/directory/directory.js";
import { GroupServer } from "../../src/group/group-server.js";
import { RpcClient } from "../../src/net/rpc-client.js";
import { RpcServer } from "../../src/net/rpc-server.js";
import { type ClientSecurity, clientOptions } from "../../src/net/security.js";
import { Limits, SIGNATURE } from "../../src/protocol/constants.js";
import { clientProof, newKeyPair, userIdOf } from "../../src/protocol/keys.js";
import { sqliteStores } from "../../src/store/sqlite.js";
import { GmClient } from "../../src/user/client.js";
import { Profile } from "../../src/user/profile.js";

const LOOPBACK = "tcp://127.0.0.1:*";
const memberKeys = newKeyPair();
// A member of "general", set up before the malformed traffic: its key's id, so it is the same
// user on the secure servers.
const USER = userIdOf(memberKeys.publicKey);
const STRANGER = randomUUID(); // never joins

let root: string;
let directoryServer: RpcServer;
let directoryEndpoint: string;
let group: GroupServer;
let member: RpcClient;
/** The same two servers with CURVE keys. */
const secureKeys = { directory: newKeyPair(), group: newKeyPair() };
let secureDirectoryServer: RpcServer;
let secureDirectoryEndpoint: string;
let secureGroup: GroupServer;
let secureMember: RpcClient;
const storedBefore = new Map<string, number>();

const messageCounts = () => new Map(group.details().map((g) => [g.name, g.messages]));

before(async () => {
  root = mkdtempSync(join(tmpdir(), "gm-malformed-"));
  directoryServer = new RpcServer({ handlers: new Directory().handlers });
  directoryEndpoint = await directoryServer.listen(LOOPBACK);
  group = await GroupServer.start({
    names: ["general", "random"],
    bind: LOOPBACK,
    directory: directoryEndpoint,
    openStore: sqliteStores(join(root, "data")),
  });
  member = new RpcClient(group.endpoint, { timeoutMs: 5000, tries: 1 });
  await member.request("JOIN", { group: "general", user: USER, name: "Ana" });
  for (const text of ["one", "two", "three"]) {
    await member.request("SEND", { group: "general", user: USER, id: randomUUID(), text });
  }
  for (const [name, n] of messageCounts()) storedBefore.set(name, n);
  assert.deepEqual(Object.fromEntries(storedBefore), { general: 3, random: 0 });

  secureDirectoryServer = new RpcServer({ handlers: new Directory().handlers, keys: secureKeys.directory });
  secureDirectoryEndpoint = await secureDirectoryServer.listen(LOOPBACK);
  secureGroup = await GroupServer.start({
    names: ["general", "random"],
    bind: LOOPBACK,
    directory: secureDirectoryEndpoint,
    keys: secureKeys.group,
    directoryKey: secureKeys.directory.publicKey,
    openStore: sqliteStores(join(root, "secure-data")),
  });
  secureMember = new RpcClient(secureGroup.endpoint, {
    timeoutMs: 5000,
    tries: 1,
    security: { keys: memberKeys, serverKey: secureKeys.group.publicKey },
  });
  await secureMember.request("JOIN", { group: "general", user: USER, name: "Ana" });
  await secureMember.request("SEND", { group: "general", user: USER, id: randomUUID(), text: "one" });
});

after(async () => {
  await member?.close();
  await group?.close();
  await directoryServer?.close();
  await secureMember?.close();
  await secureGroup?.close();
  await secureDirectoryServer?.close();
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
});

/** One reply frame split into its header words and its JSON body (and the frame count, for checks). */
function parseReply(frames: Buffer[]) {
  assert.equal(frames.length, 1, "a reply is one frame");
  const text = String(frames[0]);
  const lf = text.indexOf("\n");
  assert.ok(lf > 0, "the reply has a header line");
  const [sig = "", status = "", id = "", ...extra] = text.slice(0, lf).split(" ");
  assert.deepEqual(extra, [], "the header line has three words");
  return { sig, status, id, body: JSON.parse(text.slice(lf + 1)) };
}

/** A request frame: header line, LF, body. */
const frame = (header: string, body = "{}") => `${header}\n${body}`;

/** A body with the member's key and proof for `security`'s server added (as is, in plain text). */
function signed(security: ClientSecurity | undefined, body: Record<string, unknown> = {}): string {
  if (security === undefined) return JSON.stringify(body);
  return JSON.stringify({
    ...body,
    key: security.keys.publicKey,
    proof: clientProof(security.keys, security.serverKey),
  });
}

/** A raw DEALER connected to a server (over CURVE with `security`); `call` sends frames and returns the parsed reply. */
function rawDealer(t: TestContext, endpoint: string, receiveTimeout = 5000, security?: ClientSecurity) {
  const socket = new zmq.Dealer({ linger: 0, receiveTimeout, ...clientOptions(security) });
  socket.connect(endpoint);
  t.after(() => socket.close());
  return {
    socket,
    async call(frames: (string | Buffer)[]) {
      await socket.send(frames);
      return parseReply(await socket.receive());
    },
  };
}

async function expectRejected(
  t: TestContext,
  endpoint: string,
  frames: (string | Buffer)[],
  code: string,
  id: string,
  message?: RegExp,
  security?: ClientSecurity,
) {
  const reply = await rawDealer(t, endpoint, 5000, security).call(frames);
  assert.equal(reply.sig, SIGNATURE);
  assert.equal(reply.status, "400");
  assert.equal(reply.id, id, "the reply carries the request id (empty when it could not be read)");
  assert.equal(reply.body.code, code, reply.body.message);
  assert.equal(typeof reply.body.message, "string");
  if (message !== undefined) assert.match(reply.body.message, message);
}

/** The endpoint of each server, read once `before` has started them. */
const targets: Array<[string, () => string, () => ClientSecurity | undefined]> = [
  ["directory", () => directoryEndpoint, () => undefined],
  ["group server", () => group.endpoint, () => undefined],
  [
    "CURVE directory",
    () => secureDirectoryEndpoint,
    () => ({ keys: memberKeys, serverKey: secureKeys.directory.publicKey }),
  ],
  [
    "CURVE group server",
    () => secureGroup.endpoint,
    () => ({ keys: memberKeys, serverKey: secureKeys.group.publicKey }),
  ],
];

for (const [role, ep, sec] of targets) {
  describe(`malformed frames to the ${role}`, () => {
    /** A request frame whose body, by default, is an empty one signed for this server. */
    const req = (header: string, body?: string) => frame(header, body ?? signed(sec()));
    const reject = (t: TestContext, frames: (string | Buffer)[], code: string, id: string, message?: RegExp) =>
      expectRejected(t, ep(), frames, code, id, message, sec());

    test("wrong signature → BAD_SIGNATURE", (t) => reject(t, [req("HELLO PING r1")], "BAD_SIGNATURE", "r1"));

    test("another protocol version → UNSUPPORTED_VERSION", async (t) => {
      await reject(t, [req("GM/3 PING r2")], "UNSUPPORTED_VERSION", "r2", /GM\/3/);
      // A GM/1 client (four frames per request) is told which version this server speaks.
      await reject(t, ["GM/1", "PING", "r2", "{}"], "UNSUPPORTED_VERSION", "", /GM\/1.*GM\/2/);
    });

    test("more than one frame, or a bad header line → BAD_FRAMES", async (t) => {
      await reject(t, [req(`${SIGNATURE} PING r3`), "{}"], "BAD_FRAMES", "r3", /got 2 frames/);
      await reject(t, [`${SIGNATURE} PING r4`], "BAD_FRAMES", "", /line feed/);
      await reject(t, [req(`${SIGNATURE} PING r4 extra`)], "BAD_FRAMES", "", /header line/);
      await reject(t, [SIGNATURE], "BAD_FRAMES", "");
    });

    test("empty, oversized or non-ASCII request id → BAD_FRAMES", async (t) => {
      await reject(t, [req(`${SIGNATURE} PING `)], "BAD_FRAMES", "");
      await reject(t, [req(`${SIGNATURE} PING ${"i".repeat(65)}`)], "BAD_FRAMES", "");
      await reject(t, [req(`${SIGNATURE} PING né`)], "BAD_FRAMES", "");
    });

    test("invalid JSON, or JSON that is not an object → BAD_JSON", async (t) => {
      await reject(t, [req(`${SIGNATURE} PING r5`, "{not json")], "BAD_JSON", "r5");
      await reject(t, [req(`${SIGNATURE} PING r6`, "[1,2,3]")], "BAD_JSON", "r6");
      await reject(t, [req(`${SIGNATURE} PING r7`, "null")], "BAD_JSON", "r7");
    });

    test("a 500 KB body nested 100,000 deep → BAD_JSON naming the depth limit; 32 deep is served", async (t) => {
      const deep = `{"a":${"[".repeat(100_000)}${" ".repeat(300_000)}${"]".repeat(100_000)}}`;
      assert.ok(deep.length > 500_000 && deep.length <= Limits.bodyBytes);
      await reject(t, [req(`${SIGNATURE} PING r9`, deep)], "BAD_JSON", "r9", /deeper than 32 levels/);
      let nested: unknown = [];
      for (let depth = 2; depth < Limits.jsonDepth; depth++) nested = [nested];
      const reply = await rawDealer(t, ep(), 5000, sec()).call([
        req(`${SIGNATURE} PING r10`, signed(sec(), { a: nested })),
      ]);
      assert.equal(reply.status, "200", JSON.stringify(reply.body));
    });

    test("unknown command → UNKNOWN_COMMAND", async (t) => {
      await reject(t, [req(`${SIGNATURE} DELETE_ALL r8`)], "UNKNOWN_COMMAND", "r8", /DELETE_ALL/);
      await reject(t, [req(`${SIGNATURE} ping r9`)], "UNKNOWN_COMMAND", "r9");
    });

    test("a body over 512 KiB → TOO_LARGE", async (t) => {
      const body = signed(sec(), { group: "general", user: USER, id: randomUUID(), text: "x".repeat(600 * 1024) });
      assert.ok(body.length > Limits.bodyBytes && body.length < Limits.frameBytes);
      await reject(t, [req(`${SIGNATURE} SEND r10`, body)], "TOO_LARGE", "r10", /524288/);
    });

    test("a frame over 1 MiB drops the connection without a reply; the server serves others", async (t) => {
      const offender = rawDealer(t, ep(), 250, sec());
      await offender.socket.send([req(`${SIGNATURE} PING huge`, "a".repeat(Limits.frameBytes + 1024))]);

      // Another client is served as usual.
      const other = await rawDealer(t, ep(), 5000, sec()).call([req(`${SIGNATURE} PING other`)]);
      assert.equal(other.status, "200");
      assert.equal(other.id, "other");

      // The offender's connection was dropped: it never hears about "huge". Its socket reconnects,
      // and a ping (repeated, since one sent before the reconnect is lost with the connection)
      // is answered.
      const deadline = Date.now() + 10_000;
      let answered: { status: string; id: string } | undefined;
      for (let i = 0; answered === undefined && Date.now() < deadline; i++) {
        await offender.socket.send([req(`${SIGNATURE} PING ping-${i}`)]);
        try {
          answered = parseReply(await offender.socket.receive());
        } catch (err) {
          if ((err as { code?: string }).code !== "EAGAIN") throw err;
        }
      }
      assert.ok(answered !== undefined, "the offender's pings are answered after it reconnects");
      assert.equal(answered.status, "200");
      assert.match(answered.id, /^ping-\d+$/, "no reply ever comes for the oversized request");
    });
  });
}

type Target = () => { endpoint: string; security?: ClientSecurity };

for (const secure of [false, true]) {
  describe(`bad field types and values${secure ? " over CURVE (signed requests)" : ""}`, () => {
    const reject = (target: Target, command: string, body: unknown, code: string, message?: RegExp) => {
      return async (t: TestContext) => {
        const { endpoint, security } = target();
        const c = new RpcClient(endpoint, { timeoutMs: 5000, tries: 1, ...(security && { security }) });
        t.after(() => c.close());
        await assert.rejects(c.request(command, body), (err: unknown) => {
          assert.equal((err as { code?: string }).code, code, String(err));
          assert.equal((err as { status?: string }).status, "400");
          if (message !== undefined) assert.match((err as Error).message, message);
          return true;
        });
      };
    };
    const dir: Target = () =>
      secure
        ? {
            endpoint: secureDirectoryEndpoint,
            security: { keys: memberKeys, serverKey: secureKeys.directory.publicKey },
          }
        : { endpoint: directoryEndpoint };
    const grp: Target = () =>
      secure
        ? { endpoint: secureGroup.endpoint, security: { keys: memberKeys, serverKey: secureKeys.group.publicKey } }
        : { endpoint: group.endpoint };
    const id = randomUUID();

    test(
      "REGISTER with a bad name",
      reject(dir, "REGISTER", { name: "no spaces", id, address: "tcp://h:1" }, "BAD_REQUEST", /"name"/),
    );
    test(
      "REGISTER with a bad id",
      reject(dir, "REGISTER", { name: "g", id: 42, address: "tcp://h:1" }, "BAD_REQUEST", /"id" must be a UUID/),
    );
    test(
      "REGISTER with a wildcard address",
      reject(dir, "REGISTER", { name: "g", id, address: "tcp://*:1" }, "BAD_REQUEST", /"address"/),
    );
    test(
      "REGISTER with negative members",
      reject(dir, "REGISTER", { name: "g", id, address: "tcp://h:1", members: -1 }, "BAD_REQUEST", /"members"/),
    );
    test("LIST with a non-string user", reject(dir, "LIST", { user: 123 }, "BAD_REQUEST", /"user"/));
    test(
      "JOIN with a numeric group",
      reject(grp, "JOIN", { group: 5, user: USER, name: "x" }, "BAD_REQUEST", /"group"/),
    );
    test(
      "JOIN with a control character in the name",
      reject(grp, "JOIN", { group: "general", user: USER, name: "a\u0007" }, "BAD_REQUEST", /control/),
    );
    test(
      "JOIN with a zero-width-only name",
      reject(grp, "JOIN", { group: "general", user: USER, name: "\u200b\u200d" }, "BAD_REQUEST", /visible/),
    );
    test(
      "JOIN with a bidi override in the name",
      reject(grp, "JOIN", { group: "general", user: USER, name: "Ana\u202e" }, "BAD_REQUEST", /bidirectional/),
    );
    test(
      "SEND with a non-UUID user",
      reject(grp, "SEND", { group: "general", user: "ana", id, text: "x" }, "BAD_REQUEST", /"user"/),
    );
    test(
      "SEND with a non-UUID id",
      reject(grp, "SEND", { group: "general", user: USER, id: "1", text: "x" }, "BAD_REQUEST", /"id"/),
    );
    test(
      "SEND with a uuid of version 0, variant c (was 500 INTERNAL with a stack trace)",
      reject(
        grp,
        "SEND",
        { group: "general", user: USER, id: "0190c4b8-7e5a-0c3d-cf00-0123456789ab", text: "x" },
        "BAD_REQUEST",
        /"id" must be an RFC 9562 uuid/,
      ),
    );
    test(
      "SEND of only zero-width characters",
      reject(
        grp,
        "SEND",
        { group: "general", user: USER, id, text: "\u200b\u200d\u2060" },
        "EMPTY_MESSAGE",
        /invisible/,
      ),
    );
    test(
      "SEND with non-string text",
      reject(grp, "SEND", { group: "general", user: USER, id, text: ["x"] }, "BAD_REQUEST", /"text"/),
    );
    test(
      "HISTORY with a string limit",
      reject(grp, "HISTORY", { group: "general", user: USER, limit: "10" }, "BAD_REQUEST", /"limit"/),
    );
    test(
      "HISTORY with a limit over 1000",
      reject(grp, "HISTORY", { group: "general", user: USER, limit: 1001 }, "BAD_REQUEST", /1 to 1000/),
    );
    test(
      "HISTORY with both after and before",
      reject(grp, "HISTORY", { group: "general", user: USER, after: 1, before: 5 }, "BAD_REQUEST", /at most one/),
    );
    test(
      "HISTORY with a negative until",
      reject(grp, "HISTORY", { group: "general", user: USER, until: -1 }, "BAD_REQUEST", /"until"/),
    );
    test(
      "SEARCH without a query",
      reject(grp, "SEARCH", { group: "general", user: USER }, "BAD_REQUEST", /"query" must be a non-empty string/),
    );
    test(
      "SEARCH with a query that is not a string",
      reject(grp, "SEARCH", { group: "general", user: USER, query: ["a"] }, "BAD_REQUEST", /"query"/),
    );
    test(
      "SEARCH with a query of no words",
      reject(grp, "SEARCH", { group: "general", user: USER, query: ' * " ( ' }, "BAD_REQUEST", /no word/),
    );
    test(
      "SEARCH with a query over 256 characters",
      reject(grp, "SEARCH", { group: "general", user: USER, query: "a".repeat(257) }, "BAD_REQUEST", /256/),
    );
    test(
      "SEARCH with more than 16 words",
      reject(grp, "SEARCH", { group: "general", user: USER, query: "w ".repeat(17) }, "BAD_REQUEST", /17 words/),
    );
    test(
      "SEARCH with a lone surrogate",
      reject(grp, "SEARCH", { group: "general", user: USER, query: "a\ud800" }, "BAD_REQUEST", /well-formed/),
    );
  });
}

describe("group-level errors", () => {
  let c: RpcClient;
  before(() => {
    c = new RpcClient(group.endpoint, { timeoutMs: 5000, tries: 1 });
  });
  after(() => c.close());
  const send = (body: Record<string, unknown>) =>
    c.request("SEND", { group: "general", user: USER, id: randomUUID(), text: "hi", ...body });

  test("-0 as an integer is read as 0 (HISTORY after -0 is the whole history)", async (t) => {
    const body = `{"group":"general","user":"${USER}","after":-0,"limit":2}`;
    const reply = await rawDealer(t, group.endpoint).call([frame(`${SIGNATURE} HISTORY h0`, body)]);
    assert.equal(reply.status, "200", JSON.stringify(reply.body));
    assert.deepEqual(
      reply.body.messages.map((m: { seq: number }) => m.seq),
      [1, 2],
    );
  });

  test("not a member → NOT_MEMBER", async () => {
    await assert.rejects(send({ user: STRANGER }), { code: "NOT_MEMBER", message: /not a member of "general"/ });
    await assert.rejects(c.request("HISTORY", { group: "general", user: STRANGER }), { code: "NOT_MEMBER" });
    // Only members are told where the group's live messages are published.
    await assert.rejects(c.request("SUBSCRIBE", { group: "general", user: STRANGER }), { code: "NOT_MEMBER" });
    await assert.rejects(send({ group: "random" }), { code: "NOT_MEMBER" }, "a member of one group only");
  });

  test("LEAVE by a non-member is not an error (a retried LEAVE must succeed) and changes nothing", async () => {
    const reply = await c.request("LEAVE", { group: "general", user: STRANGER });
    assert.deepEqual(reply, { group: "general", members: 1, left: false });
  });

  test("SUBSCRIBE works from a REQ socket too (events come on a SUB socket)", async (t) => {
    const req = new zmq.Request({ linger: 0, receiveTimeout: 5000 });
    t.after(() => req.close());
    req.connect(group.endpoint);
    await req.send(frame(`${SIGNATURE} SUBSCRIBE s1`, JSON.stringify({ group: "general", user: USER })));
    const { status, id, body: reply } = parseReply(await req.receive());
    assert.deepEqual([status, id], ["200", "s1"]);
    assert.match(reply.events, /^tcp:\/\/127\.0\.0\.1:\d+$/);
    assert.match(reply.topic, /^M[A-Za-z0-9_-]{36}$/);
    assert.equal(reply.refresh, 5000);
  });

  test("unknown group → UNKNOWN_GROUP naming the hosted ones", async () => {
    await assert.rejects(send({ group: "elsewhere" }), {
      code: "UNKNOWN_GROUP",
      message: 'no group "elsewhere" on this server; it hosts "general", "random"',
    });
    await assert.rejects(c.request("JOIN", { group: "elsewhere", user: USER, name: "Ana" }), { code: "UNKNOWN_GROUP" });
  });

  test("empty or blank message → EMPTY_MESSAGE", async () => {
    await assert.rejects(send({ text: "" }), { code: "EMPTY_MESSAGE" });
    await assert.rejects(send({ text: " \n\t " }), { code: "EMPTY_MESSAGE" });
  });

  test("a lone surrogate (the JSON escape \\ud800) in a text or name → BAD_REQUEST, nothing stored", async (t) => {
    const before = messageCounts().get("general");
    // Written by hand: the escape itself goes on the wire, as another client's JSON encoder would send it.
    const text = `{"group":"general","user":"${USER}","id":"${randomUUID()}","text":"a\\ud800b"}`;
    assert.ok(text.includes("\\ud800"));
    await expectRejected(t, group.endpoint, [frame(`${SIGNATURE} SEND s1`, text)], "BAD_REQUEST", "s1", /"text"/);
    const name = `{"group":"random","user":"${USER}","name":"Ana\\udc00"}`;
    await expectRejected(t, group.endpoint, [frame(`${SIGNATURE} JOIN j1`, name)], "BAD_REQUEST", "j1", /"name"/);
    assert.equal(messageCounts().get("general"), before);
    assert.equal(group.details().find((g) => g.name === "random")?.members, 0);
  });

  test("message over 64 KiB of UTF-8 → MESSAGE_TOO_LARGE", async () => {
    await assert.rejects(send({ text: "é".repeat(Limits.textBytes / 2) + "!" }), {
      code: "MESSAGE_TOO_LARGE",
      message: /65537 bytes; the limit is 65536/,
    });
  });

  test("a text of control characters over 96 KiB as JSON → MESSAGE_TOO_LARGE, nothing stored", async () => {
    const before = messageCounts().get("general");
    await assert.rejects(send({ text: "\u0001".repeat(Limits.textJsonBytes / 6 + 1) }), {
      code: "MESSAGE_TOO_LARGE",
      message: /98310 bytes as JSON; the limit is 98304/,
    });
    assert.equal(messageCounts().get("general"), before);
  });

  test("two group servers registering the same name from different addresses: the second gets NAME_TAKEN", async (t) => {
    const second = await GroupServer.start({
      names: ["general"],
      bind: LOOPBACK,
      directory: directoryEndpoint,
      openStore: sqliteStores(join(root, "second-data")),
    });
    t.after(() => second.close());
    assert.notEqual(second.address, group.address);
    const [reg] = second.details().map((g) => g.registration);
    assert.equal(reg?.state, "rejected");
    assert.match(reg?.detail ?? "", new RegExp(`"general" is already registered from ${group.address}`));

    // The same refusal, seen on the wire.
    const raw = new RpcClient(directoryEndpoint, { timeoutMs: 5000, tries: 1 });
    t.after(() => raw.close());
    await assert.rejects(raw.request("REGISTER", { name: "general", id: randomUUID(), address: second.address }), {
      code: "NAME_TAKEN",
      status: "400",
    });
    const { groups } = await raw.request<{ groups: { name: string; address: string }[] }>("LIST", {});
    assert.equal(groups.find((g) => g.name === "general")?.address, group.address, "the first keeps the name");
  });
});

describe("after all that", () => {
  test("both servers still serve a well-formed client, and stored messages are untouched", async (t) => {
    assert.deepEqual(messageCounts(), storedBefore);

    const profile = Profile.load("after", join(root, "home"));
    const client = new GmClient(profile, { server: directoryEndpoint, timeoutMs: 5000, tries: 1 });
    t.after(() => client.close());
    const listed = await client.listGroups();
    assert.deepEqual(
      listed.map((g) => [g.name, g.address]),
      [
        ["general", group.address],
        ["random", group.address],
      ],
    );
    await client.join("general");
    const texts = (await client.messages("general")).map((m) => m.text);
    assert.deepEqual(texts, ["one", "two", "three"]);
    assert.equal((await client.send("general", "four")).seq, 4);
    assert.equal(messageCounts().get("general"), (storedBefore.get("general") ?? 0) + 1);
  });

  test("so do the CURVE servers, to a signed client", async (t) => {
    assert.deepEqual(
      secureGroup.details().map((g) => [g.name, g.messages, g.registration.state]),
      [
        ["general", 1, "registered"],
        ["random", 0, "registered"],
      ],
    );
    const dir = new RpcClient(secureDirectoryEndpoint, {
      timeoutMs: 5000,
      tries: 1,
      security: { keys: memberKeys, serverKey: secureKeys.directory.publicKey },
    });
    t.after(() => dir.close());
    const { groups } = await dir.request<{ groups: { name: string; key?: string }[] }>("LIST", {});
    assert.deepEqual(
      groups.map((g) => [g.name, g.key]),
      [
        ["general", secureKeys.group.publicKey],
        ["random", secureKeys.group.publicKey],
      ],
    );
    await secureMember.request("SEND", { group: "general", user: USER, id: randomUUID(), text: "two" });
    const page = await secureMember.request<{ messages: { text: string }[] }>("HISTORY", {
      group: "general",
      user: USER,
    });
    assert.deepEqual(
      page.messages.map((m) => m.text),
      ["one", "two"],
    );
  });
});
