/**
 * A member who subscribes and then stops reading must not hold up the group server or make its
 * memory grow: ZeroMQ's high-water mark drops that member's events, everyone else gets all of
 * them, and the stuck member sees a gap in sequence numbers that history can fill.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { v7 as uuidv7 } from "uuid";
import * as zmq from "zeromq";
import { Directory } from "../../src/directory/directory.js";
import { GroupServer } from "../../src/group/group-server.js";
import { RpcServer } from "../../src/net/rpc-server.js";
import { decodeEvent } from "../../src/protocol/codec.js";
import type { StoredMessage } from "../../src/protocol/types.js";
import { sqliteStores } from "../../src/store/sqlite.js";
import { GmClient } from "../../src/user/client.js";
import { Profile } from "../../src/user/profile.js";

let root: string;
let directory: RpcServer;
let group: GroupServer;
const clients: GmClient[] = [];
let stuck: zmq.Subscriber | undefined;

before(async () => {
  root = mkdtempSync(join(tmpdir(), "gm-slow-"));
  directory = new RpcServer({ handlers: new Directory().handlers });
  const dir = await directory.listen("tcp://127.0.0.1:*");
  group = await GroupServer.start({
    names: ["general"],
    bind: "tcp://127.0.0.1:*",
    directory: dir,
    openStore: sqliteStores(join(root, "data")),
  });
  for (const name of ["sender", "follower", "stuck"]) {
    const c = new GmClient(Profile.load(name, join(root, "home")), { server: dir, live: true });
    clients.push(c);
    await c.join("general");
  }
});

after(async () => {
  stuck?.close();
  await Promise.all(clients.map((c) => c.close()));
  await group?.close();
  await directory?.close();
  rmSync(root, { recursive: true, force: true });
});

test("a member that stops reading is dropped from, not buffered by, the group server", {
  timeout: 60_000,
}, async (t) => {
  const [sender, follower, stuckUser] = clients as [GmClient, GmClient, GmClient];
  const sub = await stuckUser.subscribe("general");
  stuck = new zmq.Subscriber({ linger: 0, receiveHighWaterMark: 100 });
  stuck.connect(sub.events);
  stuck.subscribe(sub.topic);
  stuck.subscribe("Hstuck/");
  const hello = decodeEvent(await stuck.receive());
  assert.equal(hello.type === "event" && hello.kind, "HELLO", "the stuck member is subscribed");

  const received: StoredMessage[] = [];
  await follower.follow("general", { onMessage: (m) => received.push(m) });

  const total = 6000;
  const text = "x".repeat(8000);
  for (let i = 0; i < total; i += 500) {
    await Promise.all(Array.from({ length: 500 }, () => sender.send("general", text, uuidv7())));
  }
  const deadline = Date.now() + 20_000;
  while (received.length < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(
    received.map((m) => m.seq),
    Array.from({ length: total }, (_, i) => i + 1),
    "the reading follower got every message once, in order",
  );

  // Now drain what reached the stuck member: far fewer than were sent, with a jump in seq.
  const seqs: number[] = [];
  for (;;) {
    const frames = await Promise.race([stuck.receive(), new Promise<null>((r) => setTimeout(() => r(null), 500))]);
    if (frames === null) break;
    const msg = decodeEvent(frames);
    if (msg.type === "event" && msg.kind === "MESSAGE") seqs.push((msg.body as StoredMessage).seq);
  }
  t.diagnostic(`the stuck member received ${seqs.length} of ${total} events`);
  assert.ok(seqs.length < total, `the stuck member got ${seqs.length} of ${total}: the rest was dropped`);
  assert.ok(
    seqs.some((s, i) => i > 0 && s !== (seqs[i - 1] as number) + 1) || (seqs.at(-1) ?? 0) < total,
    "the stuck member can see where its gap is",
  );
});
