/**
 * Issue 14: a HISTORY reply is bounded in bytes, whatever the texts. A 64 KiB text of control
 * characters is ~393 KB of JSON (SEND now refuses a text over 96 KiB as JSON), so a `limit: 1000`
 * page of such messages used to be one frame of hundreds of MB, built in the group server's memory
 * at once. Against a spawned `gm group`: the reply to that request stays within the budget
 * (Limits.historyBytes), and a client that pages still gets every message it asked for.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as zmq from "zeromq";
import { decodeReply, encodeRequest } from "../../src/protocol/codec.js";
import { GroupCommand, Limits } from "../../src/protocol/constants.js";
import type { StoredMessage } from "../../src/protocol/types.js";
import { SqliteGroupStore } from "../../src/store/sqlite.js";
import { GmClient } from "../../src/user/client.js";
import { Profile } from "../../src/user/profile.js";
import { type GmProcess, rssMb, startDirectory, startGroup, tempHome } from "../helpers/gm.js";

/** Messages stored: unbounded, their page would be a ~3.9 MB frame. */
const COUNT = 40;
/** The largest text SEND accepts when it is all control characters: 96 KiB as JSON. */
const TEXT = "\u0001".repeat(Limits.textJsonBytes / 6);

describe("history replies are bounded in bytes", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home, GM_INSECURE: "1" };
  const dataDir = join(home, "data");
  let directory: { proc: GmProcess; endpoint: string };
  let group: { proc: GmProcess; endpoint: string };
  let client: GmClient;
  let dealer: zmq.Dealer | undefined;

  before(async () => {
    // Stored before the server starts, through the store itself: much faster than 40 SENDs of
    // 393 KB, and the same rows.
    const store = SqliteGroupStore.open(dataDir, "general");
    const author = randomUUID();
    await store.join(author, "Ctrl");
    await Promise.all(
      Array.from({ length: COUNT }, () => store.append({ id: randomUUID(), user: author, name: "Ctrl", text: TEXT })),
    );
    await store.close();
    directory = await startDirectory(env, ["--insecure"]);
    group = await startGroup(["general"], {
      env,
      server: directory.endpoint,
      dataDir,
      extra: ["--insecure"],
    });
    client = new GmClient(Profile.load("reader", join(home, "profiles")), { server: directory.endpoint });
    await client.join("general");
  });

  after(async () => {
    dealer?.close();
    await client?.close();
    await Promise.all([group?.proc.stop(), directory?.proc.stop()]);
    cleanup();
  });

  it("a limit-1000 page of 64 KiB control-character texts is one frame within the budget", {
    timeout: 30_000,
  }, async (t) => {
    dealer = new zmq.Dealer({ linger: 0 });
    dealer.connect(group.endpoint);
    const rssBefore = rssMb(group.proc.child.pid as number);
    await dealer.send(
      encodeRequest(GroupCommand.History, "h1", { group: "general", user: client.user, after: 0, limit: 1000 }),
    );
    const frames = await dealer.receive();
    const rssAfter = rssMb(group.proc.child.pid as number);
    t.diagnostic(`group server RSS ${rssBefore.toFixed(0)} MB before, ${rssAfter.toFixed(0)} MB after the request`);
    const frame = frames.at(-1) as Buffer;
    assert.ok(frame.length <= Limits.historyBytes + 1024, `a reply frame of ${frame.length} bytes`);
    const reply = decodeReply(frames);
    assert.ok(reply.type === "reply" && reply.status === "200", JSON.stringify(reply).slice(0, 200));
    const body = reply.body as { messages: StoredMessage[]; more: boolean; last: number };
    assert.equal(body.last, COUNT);
    assert.equal(body.more, true);
    assert.ok(body.messages.length >= 1);
    assert.deepEqual(
      body.messages.map((m) => m.seq),
      body.messages.map((_, i) => i + 1),
    );
    assert.equal(body.messages[0]?.text, TEXT);
  });

  it("paging across short pages returns every message asked for", { timeout: 30_000 }, async () => {
    const all = await client.messages("general", { since: 0 });
    assert.deepEqual(
      all.map((m) => m.seq),
      Array.from({ length: COUNT }, (_, i) => i + 1),
    );
    assert.ok(all.every((m) => m.text === TEXT));
    // The newest `limit`, walking backwards: a limit larger than one page delivers `limit`.
    const newest = await client.messages("general", { limit: 25 });
    assert.deepEqual(
      newest.map((m) => m.seq),
      Array.from({ length: 25 }, (_, i) => COUNT - 24 + i),
    );
    // With `since` too, `limit` still means the newest.
    const since = await client.messages("general", { since: 0, limit: 30 });
    assert.deepEqual(
      since.map((m) => m.seq),
      Array.from({ length: 30 }, (_, i) => COUNT - 29 + i),
    );
  });
});
