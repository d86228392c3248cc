/**
 * Moderation on a real GroupServer with keys (CURVE, signed requests) on 127.0.0.1: the owner,
 * REMOVE with and without a bar, UNBAR, INVITE, SETTINGS (invite-only), and the JOIN checks. The
 * attackers are holders of real keys who are not the owner: a raw zeromq.js DEALER speaking the
 * wire by hand, and RpcClients acting as barred or uninvited users.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, type TestContext, test } from "node:test";
import * as zmq from "zeromq";
import { GroupServer } from "../../src/group/group-server.js";
import { RpcClient } from "../../src/net/rpc-client.js";
import { clientOptions } from "../../src/net/security.js";
import { decodeEvent, decodeReply, encodeRequest } from "../../src/protocol/codec.js";
import { clientProof, fingerprintOf, type KeyPair, newKeyPair, userIdOf } from "../../src/protocol/keys.js";
import { memoryStores } from "../../src/store/memory.js";
import type { StoreFactory } from "../../src/store/types.js";

const LOOPBACK = "tcp://127.0.0.1:*";

interface User {
  readonly keys: KeyPair;
  readonly id: string;
  request<T = Record<string, unknown>>(command: string, body: Record<string, unknown>): Promise<T>;
}

/** A secure group server hosting "general" and "random"; `user()` makes a signed client of it. */
async function serve(t: TestContext, options: { owner?: string; openStore?: StoreFactory } = {}) {
  const keys = newKeyPair();
  const log: string[] = [];
  const server = await GroupServer.start({
    names: ["general", "random"],
    bind: LOOPBACK,
    keys,
    openStore: options.openStore ?? memoryStores(),
    log: (line) => log.push(line),
    ...(options.owner !== undefined && { owner: options.owner }),
  });
  t.after(() => server.close());
  const user = (own: KeyPair = newKeyPair()): User => {
    const client = new RpcClient(server.endpoint, {
      timeoutMs: 5000,
      tries: 1,
      security: { keys: own, serverKey: keys.publicKey },
    });
    t.after(() => client.close());
    return { keys: own, id: userIdOf(own.publicKey), request: (command, body) => client.request(command, body) };
  };
  const join = (u: User, group = "general") => u.request("JOIN", { group, user: u.id, name: "N" });
  const info = (group = "general") =>
    user().request<{ owner: string | null; inviteOnly: boolean; members: number }>("INFO", { group });
  return { server, keys, user, join, info, log };
}

/** One request from a raw DEALER with CURVE and a proof made by hand: what any key holder can send. */
async function raw(t: TestContext, endpoint: string, serverKey: string, keys: KeyPair, command: string, body: object) {
  const dealer = new zmq.Dealer({ linger: 0, ...clientOptions({ keys, serverKey }) });
  t.after(() => dealer.close());
  dealer.connect(endpoint);
  const signed = { ...body, key: keys.publicKey, proof: clientProof(keys, serverKey) };
  await dealer.send(encodeRequest(command, "r1", signed));
  const reply = decodeReply(await dealer.receive());
  assert.equal(reply.type, "reply");
  const { status, body: answer } = reply as Extract<typeof reply, { type: "reply" }>;
  return { status, body: answer as { code: string; message: string } };
}

describe("moderation: the owner", () => {
  test("the first member to join owns the group; INFO shows the owner and inviteOnly", async (t) => {
    const s = await serve(t);
    assert.deepEqual(await s.info(), { ...(await s.info()), owner: null, inviteOnly: false });
    const [ana, bo] = [s.user(), s.user()];
    await Promise.all([s.join(ana), s.join(bo, "random")]);
    await s.join(bo);
    assert.equal((await s.info()).owner, ana.id);
    assert.equal((await s.info("random")).owner, bo.id, "each group has its own owner");
    assert.deepEqual(
      s.server.details().map((g) => [g.name, g.owner, g.inviteOnly]),
      [
        ["general", ana.id, false],
        ["random", bo.id, false],
      ],
    );
  });

  test("--owner makes a key the owner before anyone joins, and replaces a stored owner", async (t) => {
    const stores = memoryStores();
    const first = await serve(t, { openStore: stores });
    const ana = first.user();
    await first.join(ana);
    await first.server.close();
    const boss = newKeyPair();
    const s = await serve(t, { openStore: stores, owner: userIdOf(boss.publicKey) });
    assert.equal((await s.info()).owner, userIdOf(boss.publicKey));
    assert.equal((await s.info("random")).owner, userIdOf(boss.publicKey));
    const bo = s.user();
    await s.join(bo);
    const member = await s
      .user(boss)
      .request("REMOVE", { group: "general", user: userIdOf(boss.publicKey), member: ana.id });
    assert.equal(member.left, true, "the --owner key moderates without being a member");
  });

  test("a group from before owners goes to its longest-standing key member at start, not the next joiner", async (t) => {
    const stores = memoryStores();
    const store = await stores("general");
    const [legacy, elder, younger] = [randomUUID(), newKeyPair(), newKeyPair()];
    await store.join(legacy, "Legacy"); // a pre-key id (version 4): anyone who knows it may use it
    await store.join(userIdOf(elder.publicKey), "Elder");
    // Join times are in ms: wait until the clock has moved past the elder's, so the order is strict.
    const elderJoined = store.members.get(userIdOf(elder.publicKey))?.joined ?? 0;
    while (Date.now() <= elderJoined) await new Promise((r) => setImmediate(r));
    await store.join(userIdOf(younger.publicKey), "Younger");
    await store.close();
    const s = await serve(t, { openStore: stores });
    await s.join(s.user());
    assert.equal((await s.info()).owner, userIdOf(elder.publicKey));
  });
});

describe("moderation: a non-owner is FORBIDDEN every owner action", () => {
  test("REMOVE, UNBAR, INVITE, SETTINGS from a raw client with a real key that is not the owner's", async (t) => {
    const s = await serve(t);
    const [owner, victim] = [s.user(), s.user()];
    await s.join(owner);
    await s.join(victim);
    const mallory = newKeyPair();
    const me = userIdOf(mallory.publicKey);
    await s.join(s.user(mallory));
    for (const [command, body] of [
      ["REMOVE", { member: victim.id }],
      ["REMOVE", { member: victim.id, bar: true }],
      ["REMOVE", { member: owner.id, bar: true }],
      ["UNBAR", { member: victim.id }],
      ["INVITE", { invitee: randomUUID() }],
      ["SETTINGS", { inviteOnly: true }],
    ] as const) {
      const reply = await raw(t, s.server.endpoint, s.keys.publicKey, mallory, command, {
        group: "general",
        user: me,
        ...body,
      });
      assert.equal(reply.status, "400", command);
      assert.equal(reply.body.code, "FORBIDDEN", command);
      assert.match(
        reply.body.message,
        new RegExp(`only the owner of "general" may .*; its owner is ${owner.id}, not ${me}`),
      );
    }
    // Claiming to be the owner with one's own key is the signer check's FORBIDDEN.
    const claimed = await raw(t, s.server.endpoint, s.keys.publicKey, mallory, "REMOVE", {
      group: "general",
      user: owner.id,
      member: victim.id,
    });
    assert.equal(claimed.body.code, "FORBIDDEN");
    assert.match(claimed.body.message, /signed by user/);
    const info = await s.info();
    assert.deepEqual([info.members, info.inviteOnly, info.owner], [3, false, owner.id], "nothing changed");
  });

  test("a server without keys refuses moderation to everyone, the owner's claimed id included", async (t) => {
    const server = await GroupServer.start({ names: ["general"], bind: LOOPBACK, openStore: memoryStores() });
    t.after(() => server.close());
    const client = new RpcClient(server.endpoint, { timeoutMs: 5000, tries: 1 });
    t.after(() => client.close());
    const [ana, bo] = [randomUUID(), randomUUID()];
    await client.request("JOIN", { group: "general", user: ana, name: "Ana" });
    await client.request("JOIN", { group: "general", user: bo, name: "Bo" });
    assert.equal(server.details()[0]?.owner, undefined, "no owner is taken on trust");
    await assert.rejects(client.request("REMOVE", { group: "general", user: ana, member: bo }), {
      code: "FORBIDDEN",
      message: /moderation needs a group server with keys/,
    });
  });
});

describe("moderation: REMOVE and bars", () => {
  test("REMOVE ends a membership as LEAVE does; the member may join again", async (t) => {
    const s = await serve(t);
    const [owner, bo] = [s.user(), s.user()];
    await s.join(owner);
    await s.join(bo);
    const removed = await owner.request("REMOVE", { group: "general", user: owner.id, member: fingerprintOf(bo.id) });
    assert.deepEqual(removed, { group: "general", member: bo.id, left: true, barred: false, members: 1 });
    for (const command of ["SEND", "HISTORY", "SUBSCRIBE"]) {
      // SUBSCRIBE is what a follower of the group sends again every few seconds: it stops there.
      await assert.rejects(bo.request(command, { group: "general", user: bo.id, id: randomUUID(), text: "x" }), {
        code: "NOT_MEMBER",
      });
    }
    await assert.rejects(owner.request("REMOVE", { group: "general", user: owner.id, member: bo.id }), {
      code: "NOT_MEMBER",
      message: `${bo.id} is not a member of "general"`,
    });
    assert.equal((await s.join(bo)).joined, true, "a removal without a bar is not a ban");
  });

  test("REMOVE publishes LEFT naming the member, with removed: true, as LEAVE publishes LEFT", async (t) => {
    const s = await serve(t);
    const [owner, bo] = [s.user(), s.user()];
    await s.join(owner);
    await s.join(bo);
    const sub = await owner.request<{ events: string; topic: string }>("SUBSCRIBE", {
      group: "general",
      user: owner.id,
    });
    const live = new zmq.Subscriber({ linger: 0, ...clientOptions({ keys: owner.keys, serverKey: s.keys.publicKey }) });
    t.after(() => live.close());
    live.subscribe(sub.topic);
    live.subscribe("Hmoderation");
    live.connect(sub.events);
    assert.equal(decodeEvent(await live.receive()).type, "event");
    await owner.request("REMOVE", { group: "general", user: owner.id, member: bo.id });
    const left = decodeEvent(await live.receive());
    assert.deepEqual(left.type === "event" && [left.kind, left.body], ["LEFT", { user: bo.id, removed: true }]);
  });

  test("a removed and barred key's JOIN is FORBIDDEN until UNBAR; a key may be barred before it joins", async (t) => {
    const s = await serve(t);
    const [owner, bo, eve] = [s.user(), s.user(), s.user()];
    await s.join(owner);
    await s.join(bo);
    const removed = await owner.request("REMOVE", { group: "general", user: owner.id, member: bo.id, bar: true });
    assert.deepEqual(removed, { group: "general", member: bo.id, left: true, barred: true, members: 1 });
    await assert.rejects(s.join(bo), {
      code: "FORBIDDEN",
      status: "400",
      message: `the owner of "general" has barred you (user ${bo.id}) from it`,
    });
    assert.equal((await s.join(bo, "random")).joined, true, "a bar is per group");
    assert.deepEqual(await owner.request("REMOVE", { group: "general", user: owner.id, member: eve.id, bar: true }), {
      group: "general",
      member: eve.id,
      left: false,
      barred: true,
      members: 1,
    });
    await assert.rejects(s.join(eve), { code: "FORBIDDEN" });
    await assert.rejects(owner.request("INVITE", { group: "general", user: owner.id, invitee: eve.id }), {
      code: "BAD_REQUEST",
      message: /barred from "general"; UNBAR them first/,
    });
    const unbar = await owner.request("UNBAR", { group: "general", user: owner.id, member: fingerprintOf(bo.id) });
    assert.deepEqual(unbar, { group: "general", member: bo.id, unbarred: true });
    assert.equal((await s.join(bo)).joined, true);
    assert.deepEqual(
      (await owner.request("UNBAR", { group: "general", user: owner.id, member: bo.id })).unbarred,
      false,
    );
  });

  test("members are named by id or fingerprint; unknown, ambiguous, short and self are refused clearly", async (t) => {
    const s = await serve(t);
    const owner = s.user();
    await s.join(owner);
    const as = (member: string, bar = false) =>
      owner.request("REMOVE", { group: "general", user: owner.id, member, bar });
    await assert.rejects(as("deadbeef"), {
      code: "NOT_MEMBER",
      message: 'no member of "general" has fingerprint deadbeef',
    });
    await assert.rejects(as("deadbee"), { code: "BAD_REQUEST", message: /"member" must be a user id/ });
    await assert.rejects(as(owner.id), { code: "BAD_REQUEST", message: /the owner cannot remove themselves/ });
    // Two members whose ids share a prefix (made by hand: an insecure-era or claimed id is not
    // checked against a key when the store already holds it).
    const stores = memoryStores();
    const store = await stores("general");
    await store.setOwner(owner.id);
    await store.join("abcdef01-0000-8000-8000-000000000001", "A");
    await store.join("abcdef01-0000-8000-8000-000000000002", "B");
    await store.close();
    const t2 = await serve(t, { openStore: stores });
    const boss = t2.user(owner.keys);
    await assert.rejects(boss.request("REMOVE", { group: "general", user: owner.id, member: "abcdef01" }), {
      code: "BAD_REQUEST",
      message:
        /fingerprint abcdef01 is ambiguous in "general": it matches abcdef01-0000-8000-8000-000000000001, abcdef01-0000-8000-8000-000000000002/,
    });
    const one = await boss.request("REMOVE", {
      group: "general",
      user: owner.id,
      member: "ABCDEF01000080008000000000000001",
    });
    assert.equal(one.member, "abcdef01-0000-8000-8000-000000000001");
  });
});

describe("moderation: invite-only", () => {
  test("SETTINGS makes a group invite-only: a non-invited key's JOIN is FORBIDDEN, an invited one joins", async (t) => {
    const s = await serve(t);
    const [owner, old, guest, stranger] = [s.user(), s.user(), s.user(), s.user()];
    await s.join(owner);
    await s.join(old);
    const on = await owner.request("SETTINGS", { group: "general", user: owner.id, inviteOnly: true });
    assert.deepEqual(on, { group: "general", owner: owner.id, inviteOnly: true, changed: true });
    assert.equal((await s.info()).inviteOnly, true);
    await assert.rejects(s.join(stranger), {
      code: "FORBIDDEN",
      message: `"general" is invite-only and you (user ${stranger.id}) are not invited; ask its owner for an invite`,
    });
    assert.equal((await s.join(old)).joined, false, "members from before stay and may rename");
    const invited = await owner.request("INVITE", { group: "general", user: owner.id, invitee: guest.id });
    assert.deepEqual(invited, { group: "general", invitee: guest.id, invited: true, inviteOnly: true });
    assert.equal((await s.join(guest)).joined, true);
    // A removal takes the invite back.
    await owner.request("REMOVE", { group: "general", user: owner.id, member: guest.id });
    await assert.rejects(s.join(guest), { code: "FORBIDDEN" });
    await owner.request("SETTINGS", { group: "general", user: owner.id, inviteOnly: false });
    assert.equal((await s.join(stranger)).joined, true);
    await assert.rejects(owner.request("SETTINGS", { group: "general", user: owner.id }), {
      code: "BAD_REQUEST",
      message: '"inviteOnly" must be true or false',
    });
  });

  test("a fingerprint invite admits the first key with that fingerprint, and only it", async (t) => {
    const s = await serve(t);
    const owner = s.user();
    await s.join(owner);
    await owner.request("SETTINGS", { group: "general", user: owner.id, inviteOnly: true });
    const guest = s.user();
    const reply = await owner.request("INVITE", {
      group: "general",
      user: owner.id,
      invitee: fingerprintOf(guest.id).toUpperCase(),
    });
    assert.deepEqual(reply, { group: "general", invitee: fingerprintOf(guest.id), invited: true, inviteOnly: true });
    await assert.rejects(s.join(s.user()), { code: "FORBIDDEN" }, "another key's fingerprint differs");
    assert.equal((await s.join(guest)).joined, true);
    await owner.request("REMOVE", { group: "general", user: owner.id, member: guest.id });
    await assert.rejects(s.join(guest), { code: "FORBIDDEN" }, "the invite was consumed and taken back");
    await assert.rejects(owner.request("INVITE", { group: "general", user: owner.id, invitee: "abc" }), {
      code: "BAD_REQUEST",
    });
  });
});
