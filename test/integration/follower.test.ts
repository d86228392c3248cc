/**
 * Follower against a real directory and group server in-process (real sockets on 127.0.0.1, real
 * SQLite files, profiles in a temp GM home): what the end-to-end tests cannot arrange, a profile
 * changed without a LEAVE (as `leave --force` does) and a group server down when following starts.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Directory } from "../../src/directory/directory.js";
import { GroupServer } from "../../src/group/group-server.js";
import { RpcServer } from "../../src/net/rpc-server.js";
import { ErrorCode } from "../../src/protocol/constants.js";
import { sqliteStores } from "../../src/store/sqlite.js";
import { GmClient } from "../../src/user/client.js";
import type { FeedEvent } from "../../src/user/feed.js";
import { Follower } from "../../src/user/follower.js";
import { Profile } from "../../src/user/profile.js";

const LOOPBACK = "tcp://127.0.0.1:*";

let root: string;
let home: string;
let directoryServer: RpcServer;
let directoryEndpoint: string;
let group: GroupServer | undefined;
const clients: GmClient[] = [];
const followers: Follower[] = [];

const startGroupServer = (): Promise<GroupServer> =>
  GroupServer.start({
    names: ["general", "other"],
    bind: LOOPBACK,
    directory: directoryEndpoint,
    openStore: sqliteStores(join(root, "data")),
  });

function clientFor(profile: string, options: { timeoutMs?: number; tries?: number } = {}): GmClient {
  const c = new GmClient(Profile.load(profile, home), {
    server: directoryEndpoint,
    timeoutMs: 5000,
    live: true,
    ...options,
  });
  clients.push(c);
  return c;
}

/** A follower that records what it prints, and lets a test wait for a condition on it. */
function recording(client: GmClient, options: { retryMs?: number } = {}) {
  const lines: string[] = [];
  const events: FeedEvent[] = [];
  const errors: string[] = [];
  const joined: string[] = [];
  const follower = new Follower(client, {
    since: Date.now(),
    ...options,
    onMessage: (g, m) => lines.push(`${g}: ${m.text}`),
    onEvent: (e) => events.push(e),
    onError: (g, err) => errors.push(`${g}: ${err.message}`),
    onJoined: (g) => joined.push(g),
  });
  followers.push(follower);
  const until = async (what: string, condition: () => boolean): Promise<void> => {
    for (const deadline = Date.now() + 15_000; !condition(); ) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify({ lines, events })}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { follower, lines, events, errors, joined, until };
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), "gm-follower-"));
  home = join(root, "home");
  directoryServer = new RpcServer({ handlers: new Directory().handlers });
  directoryEndpoint = await directoryServer.listen(LOOPBACK);
  group = await startGroupServer();
});

after(async () => {
  for (const f of followers) f.stop();
  await Promise.all(clients.map((c) => c.close()));
  await group?.close();
  await directoryServer?.close();
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
});

describe("Follower", () => {
  test("follows a group joined elsewhere, and ends one dropped from the profile without a LEAVE", async () => {
    const ada = clientFor("ada");
    const bob = clientFor("bob");
    await ada.join("general");
    await bob.join("general");
    await bob.join("other");
    const f = recording(ada);
    await f.follower.followAll();
    assert.deepEqual(f.follower.groups, ["general"]);

    // Another process of the same profile joins: followed from the join on.
    await clientFor("ada").join("other");
    await f.until("other to be followed", () => f.joined.includes("other"));
    await bob.send("other", "hi other");
    await f.until("the message", () => f.lines.includes("other: hi other"));

    // Another process forgets the group (no LEAVE reaches the server): it ends all the same.
    Profile.load("ada", home).update((d) => {
      delete d.groups.other;
    });
    await f.until("other to end", () => f.events.some((e) => e.type === "ended"));
    const ended = f.events.find((e) => e.type === "ended");
    assert.equal(ended?.group, "other");
    assert.equal(ended?.type === "ended" && (ended.reason as { code?: string }).code, ErrorCode.NotMember);
    // Within a poll of the profile, not at the feed's next check-in (which would find it unjoined).
    assert.match(ended?.type === "ended" ? ended.reason.message : "", /you left it from another gm process/);
    assert.deepEqual(f.follower.groups, ["general"]);
    await bob.send("other", "after");
    await bob.send("general", "later");
    await f.until("the later message", () => f.lines.includes("general: later"));
    assert.deepEqual(f.lines, ["other: hi other", "general: later"]);
    assert.deepEqual(f.errors, []);
  });

  test("a group whose server does not answer at the start is tried again, and followed once it is back", async () => {
    const cy = clientFor("cy", { timeoutMs: 200, tries: 1 });
    await cy.join("general");
    await group?.close();
    group = undefined;
    const f = recording(cy, { retryMs: 50 });
    await f.follower.follow(["general"]);
    assert.deepEqual(
      f.events.map((e) => e.type),
      ["lost"],
    );
    assert.deepEqual(f.follower.groups, ["general"], "still wanted");

    group = await startGroupServer(); // at another port: the directory says where
    await f.until("back in touch", () => f.events.some((e) => e.type === "restored"));
    // bob's profile still has the old address: one short try there, then the directory is asked.
    await clientFor("bob", { timeoutMs: 200, tries: 1 }).send("general", "back");
    await f.until("the message", () => f.lines.includes("general: back"));
    assert.deepEqual(
      f.events.map((e) => e.type),
      ["lost", "restored"],
      "told once, however many tries",
    );
  });
});
