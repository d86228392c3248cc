/**
 * Who can read a group's live messages: the attacker is a raw zeromq.js SUB socket on the group
 * server's events port, the members are GmClients following the group (real directory, group
 * server and sockets on 127.0.0.1, the in-memory store).
 *
 * "Received nothing" is proven by order, not by waiting: once a member has received a message,
 * libzmq has already queued it for every connection whose subscriptions matched; a HELLO the
 * attacker asks for after that comes behind anything queued for it, so a HELLO with no message
 * before it means no message was coming.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type * as zmq from "zeromq";
import { Directory } from "../../src/directory/directory.js";
import { GroupServer } from "../../src/group/group-server.js";
import { RpcServer } from "../../src/net/rpc-server.js";
import { SUBSCRIBE_REFRESH_MS } from "../../src/protocol/timing.js";
import type { StoredMessage } from "../../src/protocol/types.js";
import { memoryStores } from "../../src/store/memory.js";
import { GmClient } from "../../src/user/client.js";
import { Profile } from "../../src/user/profile.js";
import { rawSubscriber as rawSubscriberOn } from "../helpers/raw-subscriber.js";

const LOOPBACK = "tcp://127.0.0.1:*";

let root: string;
let directory: RpcServer;
let group: GroupServer;
const clients: GmClient[] = [];
const sockets: zmq.Subscriber[] = [];

before(async () => {
  root = mkdtempSync(join(tmpdir(), "gm-events-access-"));
  directory = new RpcServer({ handlers: new Directory().handlers });
  const directoryEndpoint = await directory.listen(LOOPBACK);
  group = await GroupServer.start({
    names: ["general"],
    bind: LOOPBACK,
    directory: directoryEndpoint,
    openStore: memoryStores(),
  });
  const client = (name: string) => {
    const c = new GmClient(Profile.load(name, join(root, "home")), {
      server: directoryEndpoint,
      timeoutMs: 5000,
      live: true,
    });
    clients.push(c);
    return c;
  };
  alice = client("alice");
  bob = client("bob");
  carol = client("carol");
  for (const c of [alice, bob, carol]) await c.join("general");
});

after(async () => {
  for (const s of sockets) s.close();
  await Promise.all(clients.map((c) => c.close()));
  await group?.close();
  await directory?.close();
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
});

let alice: GmClient;
let bob: GmClient;
let carol: GmClient;

/** Resolves once `done()` holds, checking every few ms; fails after 10 s. */
async function waitFor(what: string, done: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A raw SUB socket on the group server's events port that records every event, in order. */
function rawSubscriber(name: string) {
  const raw = rawSubscriberOn(group.events, name);
  sockets.push(raw.socket);
  return raw;
}

/** Follows the group as `client`, recording each message text in order. */
async function follower(client: GmClient) {
  const texts: string[] = [];
  const seqs: number[] = [];
  await client.follow("general", {
    limit: 0,
    onMessage: (m: StoredMessage) => {
      texts.push(m.text);
      seqs.push(m.seq);
    },
  });
  return { texts, seqs };
}

describe("live events reach members only", () => {
  test('a non-member subscribed to "", "M", "M"+group id and a hello topic gets its HELLO, no message', async () => {
    const bobs = await follower(bob);
    const id = group.details()[0]?.id as string;
    const attacker = rawSubscriber("attacker");
    attacker.socket.subscribe(""); // everything
    attacker.socket.subscribe("M"); // every group topic
    attacker.socket.subscribe(`M${id}`); // what the topic was before: INFO gives the id to anyone
    assert.deepEqual(await attacker.sync(), [], "its hello topic is answered: it is connected and heard");

    const texts = ["one", "two", "three"];
    for (const text of texts) await alice.send("general", text);
    await waitFor("bob's messages", () => bobs.texts.length === texts.length);
    assert.deepEqual(bobs.texts, texts);
    assert.deepEqual(await attacker.sync(), [], "no event came before the HELLO asked for after bob had them all");
    bob.unfollow("general");
  });

  test("a member who leaves gets nothing sent after the leave on its old subscription; the others get everything", async () => {
    const followedAt = Date.now();
    const bobs = await follower(bob);
    // carol listens as a raw socket would, on the topic her SUBSCRIBE gave her.
    const { topic } = await carol.subscribe("general");
    const carols = rawSubscriber("carol");
    carols.socket.subscribe(topic);
    assert.deepEqual(await carols.sync(), []);
    const first = await alice.send("general", "before carol leaves");
    await waitFor("bob's first message", () => bobs.seqs.includes(first.seq));
    const beforeLeave = await carols.sync();
    assert.deepEqual(
      beforeLeave.map((e) => [e.topic, e.kind]),
      [[topic, "MESSAGE"]],
      "carol's socket received live messages while she was a member",
    );

    await carol.leave("general");
    // Sent at once, while bob is still moving to the new topic: those come to him from history.
    const after: number[] = [];
    for (let i = 0; i < 20; i++) after.push((await alice.send("general", `after ${i}`)).seq);
    await waitFor("bob's messages after the leave", () => bobs.seqs.includes(after.at(-1) as number));
    assert.deepEqual(bobs.seqs, [first.seq, ...after], "bob got every message once, in order");
    // Without moving to the new topic at the LEFT, bob would only get them at his first
    // periodic check-in, SUBSCRIBE_REFRESH_MS after he started following.
    assert.ok(Date.now() - followedAt < SUBSCRIBE_REFRESH_MS - 1000, "bob followed the new topic at once");

    // carol's socket, still connected and subscribed to the old topic, got the LEFT and nothing more.
    const afterLeave = await carols.sync();
    assert.deepEqual(afterLeave, [{ topic, kind: "LEFT", body: { user: carol.user } }]);
    // Subscribing to the old topic again is refused like any unknown topic.
    carols.socket.subscribe(topic);
    await alice.send("general", "after carol tried again");
    await waitFor("bob's last message", () => bobs.texts.at(-1) === "after carol tried again");
    assert.deepEqual(await carols.sync(), []);
    bob.unfollow("general");
  });
});
