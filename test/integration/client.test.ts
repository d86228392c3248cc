/**
 * GmClient against a real directory and group server in-process (real sockets on 127.0.0.1,
 * real SQLite files, a profile in a temp GM home).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { v7 as uuidv7 } from "uuid";
import * as zmq from "zeromq";
import { Directory } from "../../src/directory/directory.js";
import { GroupServer } from "../../src/group/group-server.js";
import { RpcServer } from "../../src/net/rpc-server.js";
import { CancelledError, GmError, TimeoutError } from "../../src/protocol/errors.js";
import { sqliteStores } from "../../src/store/sqlite.js";
import { GmClient } from "../../src/user/client.js";
import { Profile } from "../../src/user/profile.js";

const LOOPBACK = "tcp://127.0.0.1:*";

let root: string;
let home: string;
let directoryServer: RpcServer;
let directoryEndpoint: string;
let group: GroupServer;
/** The group server to close at the end, unless a test already closed it. */
let running: GroupServer | undefined;
const clients: GmClient[] = [];

function startGroupServer(): Promise<GroupServer> {
  return GroupServer.start({
    names: ["general", "big"],
    bind: LOOPBACK,
    directory: directoryEndpoint,
    openStore: sqliteStores(join(root, "data")),
  });
}

function clientFor(profile: string, options: { timeoutMs?: number; tries?: number } = {}): GmClient {
  const c = new GmClient(Profile.load(profile, home), { server: directoryEndpoint, timeoutMs: 5000, ...options });
  clients.push(c);
  return c;
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), "gm-client-"));
  home = join(root, "home");
  directoryServer = new RpcServer({ handlers: new Directory().handlers });
  directoryEndpoint = await directoryServer.listen(LOOPBACK);
  group = await startGroupServer();
  running = group;
});

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await running?.close();
  await directoryServer?.close();
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
});

/** Waits (bounded) until the wall clock has moved past `ts`, so later messages get a later ts. */
function clockPast(ts: number): void {
  const deadline = performance.now() + 1000;
  while (Date.now() <= ts) if (performance.now() > deadline) throw new Error("the clock does not advance");
}

describe("GmClient", () => {
  let alice: GmClient;
  let bob: GmClient;
  before(() => {
    alice = clientFor("alice");
    bob = clientFor("bob");
  });

  test("listGroups shows the registered groups and their address", async () => {
    const groups = await alice.listGroups();
    assert.deepEqual(
      groups.map((g) => g.name),
      ["big", "general"],
    );
    const general = groups.find((g) => g.name === "general");
    const details = group.details().find((g) => g.name === "general");
    assert.equal(general?.address, group.address);
    assert.equal(general?.id, details?.id);
  });

  test("join remembers the group in the profile; joining again is not an error", async () => {
    const first = await alice.join("general");
    assert.deepEqual(first, { group: "general", members: 1, joined: true, address: group.address });
    const again = await alice.join("general");
    assert.equal(again.joined, false);
    assert.equal(again.members, 1);
    assert.equal((await bob.join("general")).members, 2);

    assert.deepEqual(
      alice.groups().map((g) => [g.name, g.address]),
      [["general", group.address]],
    );
    // Persisted: a fresh load of the profile knows the group.
    const reloaded = Profile.load("alice", home);
    assert.equal(reloaded.data.groups.general?.address, group.address);
    assert.equal(reloaded.data.groups.general?.id, group.details().find((g) => g.name === "general")?.id);
  });

  test("joining an unknown group fails with UNKNOWN_GROUP", async () => {
    await assert.rejects(alice.join("nowhere"), (err: unknown) => {
      assert.ok(err instanceof GmError);
      assert.equal(err.code, "UNKNOWN_GROUP");
      assert.match(err.message, /no group named "nowhere" is registered/);
      return true;
    });
  });

  test("send stores messages in order; others read them with the sender's name", async () => {
    const results = [];
    for (const text of ["hello", "how are you?", "é 😀"]) results.push(await alice.send("general", text));
    assert.deepEqual(
      results.map((r) => [r.seq, r.duplicate]),
      [
        [1, false],
        [2, false],
        [3, false],
      ],
    );
    const messages = await bob.messages("general");
    assert.deepEqual(
      messages.map((m) => [m.seq, m.name, m.user, m.text]),
      [
        [1, "alice", alice.user, "hello"],
        [2, "alice", alice.user, "how are you?"],
        [3, "alice", alice.user, "é 😀"],
      ],
    );
  });

  test("a retried send with the same id returns the original seq and is stored once", async () => {
    const id = uuidv7();
    const first = await alice.send("general", "only once", id);
    const retry = await alice.send("general", "only once", id);
    assert.deepEqual(retry, { group: "general", seq: first.seq, ts: first.ts, duplicate: true });
    const [c1, c2] = await Promise.all([alice.send("general", "racing", id), alice.send("general", "racing", id)]);
    assert.equal(c1?.seq, first.seq);
    assert.equal(c2?.seq, first.seq);
    const all = await alice.messages("general");
    assert.equal(all.filter((m) => m.id === id).length, 1);
  });

  test("messages since a time, and the newest N", async () => {
    const earlier = await alice.messages("general");
    clockPast(Math.max(...earlier.map((m) => m.ts)));
    const later = [];
    for (const text of ["l1", "l2", "l3", "l4"]) later.push(await bob.send("general", text));
    const since = later[0]?.ts ?? 0;

    assert.deepEqual(
      (await alice.messages("general", { since })).map((m) => m.text),
      ["l1", "l2", "l3", "l4"],
    );
    assert.deepEqual(
      (await alice.messages("general", { since, limit: 2 })).map((m) => m.text),
      ["l3", "l4"],
      "since + limit: the newest N from that time",
    );
    assert.deepEqual(
      (await alice.messages("general", { since, until: later[3]?.ts as number })).map((m) => m.text),
      ["l1", "l2", "l3"],
      "since + until: from one time to (not at) another",
    );
    const window = await alice.history("general", { until: later[2]?.ts as number, limit: 2 });
    assert.deepEqual(
      window.messages.map((m) => m.text),
      ["l1", "l2"],
      "until + limit: the newest N before that time",
    );
    assert.equal(window.older, true, "older messages exist");
    const older = await alice.history("general", { before: window.messages[0]?.seq as number, limit: 1000 });
    assert.deepEqual(older, { messages: earlier, older: false }, "before the first: all the rest");
    assert.deepEqual(
      (await alice.messages("general", { limit: 3 })).map((m) => m.text),
      ["l2", "l3", "l4"],
      "limit alone: the newest N, oldest first",
    );
    assert.deepEqual(await alice.messages("general", { since: Date.now() + 60_000 }), []);
    const total = earlier.length + later.length;
    assert.equal((await alice.messages("general", { limit: 1000 })).length, total);
  });

  test("paging across more than 1000 messages", { timeout: 120_000 }, async () => {
    await alice.join("big");
    const n = 2500;
    const seqs: number[] = [];
    for (let start = 0; start < n; start += 500) {
      const batch = await Promise.all(
        Array.from({ length: 500 }, (_, i) => alice.send("big", `m${String(start + i + 1).padStart(4, "0")}`)),
      );
      seqs.push(...batch.map((r) => r.seq));
    }
    assert.deepEqual(
      [...seqs].sort((a, b) => a - b),
      Array.from({ length: n }, (_, i) => i + 1),
      "every send got its own seq",
    );

    const all = await alice.messages("big");
    assert.equal(all.length, n);
    assert.deepEqual(
      all.map((m) => m.seq),
      Array.from({ length: n }, (_, i) => i + 1),
    );
    assert.equal(new Set(all.map((m) => m.id)).size, n);

    const newest = await alice.messages("big", { limit: 1500 });
    assert.equal(newest.length, 1500);
    assert.equal(newest[0]?.seq, 1001);
    assert.equal(newest.at(-1)?.seq, 2500);
    assert.deepEqual(
      newest.map((m) => m.seq),
      Array.from({ length: 1500 }, (_, i) => 1001 + i),
    );

    const oldest = await alice.history("big", { before: 1201 });
    assert.equal(oldest.messages.length, 1200);
    assert.deepEqual(
      oldest.messages.map((m) => m.seq),
      Array.from({ length: 1200 }, (_, i) => i + 1),
    );
    assert.equal(oldest.older, false);
    const middle = await alice.history("big", { before: 2301, limit: 1200 });
    assert.deepEqual(
      middle.messages.map((m) => m.seq),
      Array.from({ length: 1200 }, (_, i) => 1101 + i),
    );
    assert.equal(middle.older, true);

    const page = await alice.page("big", { after: 2400, limit: 1000 });
    assert.equal(page.messages.length, 100);
    assert.equal(page.more, false);
    assert.equal(page.last, 2500);
  });

  test("leave forgets the group; the client then refuses to use it, and leaving again is a no-op", async () => {
    const left = await bob.leave("general");
    assert.deepEqual(
      { ...left, address: undefined },
      {
        group: "general",
        joined: true,
        forced: false,
        members: 1,
        left: true,
        address: undefined,
      },
    );
    assert.deepEqual(bob.groups(), []);
    assert.deepEqual(Profile.load("bob", home).data.groups, {});
    await assert.rejects(bob.send("general", "still here?"), { code: "NOT_MEMBER" });
    await assert.rejects(bob.messages("general"), { code: "NOT_MEMBER" });
    assert.deepEqual(await bob.leave("general"), { group: "general", joined: false, forced: false });
    // alice is unaffected
    assert.ok((await alice.messages("general")).length > 0);
  });

  test("a follower stops at once when its user leaves from another client, and can follow again", async () => {
    // Two clients of one profile, as a shell and a one-shot command in two processes would be.
    const shell = clientFor("carol");
    const oneShot = clientFor("carol");
    await shell.join("general");
    const seen: string[] = [];
    let ended: ((e: Error) => void) | undefined;
    const end = new Promise<Error>((r) => {
      ended = r;
    });
    await shell.follow("general", {
      limit: 0,
      onMessage: (m) => seen.push(m.text),
      onEvent: (e) => {
        if (e.type === "ended") ended?.(e.reason);
      },
    });
    const before = await alice.send("general", "before carol leaves");
    await oneShot.leave("general");
    await alice.send("general", "after carol left");
    const reason = await end;
    assert.match(reason.message, /not a member of "general" any more: you left it from another gm process/);
    assert.equal((reason as GmError).code, "NOT_MEMBER");
    // The LEFT event comes before anything published after the LEAVE; what came before may show.
    assert.ok(!seen.includes("after carol left"), `carol saw ${JSON.stringify(seen)}`);
    assert.ok(seen.every((t) => t === "before carol leaves"));
    assert.ok(before.seq > 0);

    // The ended feed was forgotten: joining and following again works and delivers live.
    await shell.join("general");
    const again: string[] = [];
    let got: (() => void) | undefined;
    const arrived = new Promise<void>((r) => {
      got = r;
    });
    await shell.follow("general", {
      limit: 0,
      onMessage: (m) => {
        again.push(m.text);
        if (m.text === "welcome back") got?.();
      },
    });
    await alice.send("general", "welcome back");
    await arrived;
    assert.deepEqual(again, ["welcome back"]);
    shell.unfollow("general");
  });

  test("two groups followed over one events socket: leaving one leaves the other live", async () => {
    const erin = clientFor("erin");
    await erin.join("general");
    await erin.join("big");
    const seen: string[] = [];
    const waiting = new Map<string, () => void>();
    const arrival = (text: string) => new Promise<void>((r) => waiting.set(text, r));
    const onMessage = (m: { text: string }) => {
      seen.push(m.text);
      waiting.get(m.text)?.();
    };
    await erin.follow("general", { limit: 0, onMessage });
    await erin.follow("big", { limit: 0, onMessage });
    const both = Promise.all([arrival("to general"), arrival("to big")]);
    await alice.send("general", "to general");
    await alice.send("big", "to big");
    await both;
    await erin.leave("big");
    assert.equal(erin.following("big"), false);
    assert.equal(erin.following("general"), true);
    // Published in this order on one connection: had "big again" reached erin, it came first.
    const general = arrival("general again");
    await alice.send("big", "big again");
    await alice.send("general", "general again");
    await general;
    assert.deepEqual(seen, ["to general", "to big", "general again"]);
    erin.unfollow("general");
    assert.equal(erin.following("general"), false);
  });

  test("an empty or oversized message is refused before it is sent", async () => {
    await assert.rejects(alice.send("general", "   "), { code: "EMPTY_MESSAGE" });
    await assert.rejects(alice.send("general", "x".repeat(64 * 1024 + 1)), { code: "MESSAGE_TOO_LARGE" });
  });
});

describe("GmClient cancelled", () => {
  test("a cancelled send says whether the SEND had gone out; nothing is left waiting", async (t) => {
    const erin = clientFor("erin", { timeoutMs: 2000, tries: 3 });
    await erin.join("general");
    // The group's server, as erin's profile knows it, now takes requests and never answers.
    const mute = new zmq.Router({ linger: 0 });
    await mute.bind(LOOPBACK);
    t.after(() => mute.close());
    erin.profile.update((d) => {
      const g = d.groups.general;
      if (g !== undefined) d.groups.general = { ...g, address: mute.lastEndpoint as string };
    });
    const controller = new AbortController();
    const sending = erin.send("general", "maybe", undefined, { signal: controller.signal });
    await mute.receive(); // the SEND reached the server
    controller.abort();
    await assert.rejects(sending, (err: unknown) => {
      assert.ok(err instanceof CancelledError);
      assert.equal(err.sent, true, "the server may have stored it");
      return true;
    });
    await assert.rejects(erin.send("general", "never", undefined, { signal: AbortSignal.abort() }), (err: unknown) => {
      assert.ok(err instanceof CancelledError);
      assert.equal(err.sent, false, "it never left");
      return true;
    });
    // A new display name is given to the group (a JOIN) before the message goes: cancelled then,
    // the message never left.
    erin.profile.update((d) => {
      d.name = "Erin Two";
    });
    const renamed = new AbortController();
    const renaming = erin.send("general", "not yet", undefined, { signal: renamed.signal });
    const [, join] = await mute.receive();
    assert.match(String(join), / JOIN /);
    renamed.abort();
    await assert.rejects(renaming, (err: unknown) => {
      assert.ok(err instanceof CancelledError);
      assert.equal(err.sent, false);
      return true;
    });
    const reading = new AbortController();
    const history = erin.messages("general", { signal: reading.signal });
    await mute.receive();
    reading.abort();
    await assert.rejects(history, CancelledError);
  });
});

describe("GmClient when the group server moves", () => {
  test("a request to the old address times out, the directory is asked, and the profile follows", async () => {
    const carol = clientFor("carol", { timeoutMs: 300, tries: 1 });
    await carol.join("general");
    const before = await carol.send("general", "before the move");
    const oldAddress = group.address;

    await group.close();
    running = undefined;
    group = await startGroupServer();
    running = group;
    assert.notEqual(group.address, oldAddress);

    const moved = await carol.send("general", "after the move");
    assert.equal(moved.seq, before.seq + 1, "same store, so the sequence continues");
    assert.equal(carol.groups()[0]?.address, group.address);
    assert.equal(Profile.load("carol", home).data.groups.general?.address, group.address);
  });

  test("with the server gone and no directory to ask, the TimeoutError is reported", async () => {
    const dave = clientFor("dave", { timeoutMs: 200, tries: 1 });
    await dave.join("general");
    await group.close();
    running = undefined;
    await directoryServer.close();
    await assert.rejects(dave.send("general", "anyone?"), (err: unknown) => {
      assert.ok(err instanceof TimeoutError);
      assert.equal(err.endpoint, dave.groups()[0]?.address);
      return true;
    });
  });
});
