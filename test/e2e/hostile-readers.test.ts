/**
 * Issue 14: no client behaviour takes a group server over 200 MB of memory, with 1,000,000 stored
 * messages. The attacker is a member that asks for history on many connections and never reads a
 * reply (its sockets take one message and then let TCP fill). Before, ZeroMQ kept up to 1,000
 * replies for each such peer and the process built every one of them: one connection asking 2,000
 * times for pages of the largest texts took the server from 67 to 416 MB, and it stayed there.
 * Now ZeroMQ holds at most PEER_QUEUED_REPLIES for a peer, the process at most PEER_BACKLOG bytes
 * more, and the requests of a peer that does not read are dropped unread.
 *
 * The bound is measured on the real `gm group` process (RSS from /proc), while another member
 * goes on reading and sending through it.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as zmq from "zeromq";
import { encodeRequest } from "../../src/protocol/codec.js";
import { GroupCommand, Limits } from "../../src/protocol/constants.js";
import { SqliteGroupStore } from "../../src/store/sqlite.js";
import { GmClient } from "../../src/user/client.js";
import { Profile } from "../../src/user/profile.js";
import { fillStore } from "../../support/fill-store.js";
import { type GmProcess, rssMb, startDirectory, startGroup, tempHome } from "../helpers/gm.js";

const STORED = 1_000_000;
/** The largest texts SEND accepts, all control characters: 96 KiB each as JSON. */
const BIG = 200;
const TEXT = "\u0001".repeat(Limits.textJsonBytes / 6);
const CONNECTIONS = 32;
const REQUESTS = 200;
const LIMIT_MB = 200;

describe("members that never read their replies", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home, GM_INSECURE: "1" };
  const dataDir = join(home, "data");
  let directory: { proc: GmProcess; endpoint: string };
  let group: { proc: GmProcess; endpoint: string };
  let reader: GmClient;
  const attackers: zmq.Dealer[] = [];

  before(async () => {
    // The store gets its schema from gm, then 1,000,000 rows straight into SQLite, then the big
    // texts through the store itself (so its high-water mark covers them).
    await SqliteGroupStore.open(dataDir, "general").close();
    fillStore(join(dataDir, "general.db"), { messages: STORED, members: 10, text: (seq) => `message ${seq}` });
    const store = SqliteGroupStore.open(dataDir, "general");
    const author = randomUUID();
    await store.join(author, "Ctrl");
    await Promise.all(
      Array.from({ length: BIG }, () => store.append({ id: randomUUID(), user: author, name: "Ctrl", text: TEXT })),
    );
    await store.close();
    directory = await startDirectory(env, ["--insecure"]);
    group = await startGroup(["general"], { env, server: directory.endpoint, dataDir, extra: ["--insecure"] });
    reader = new GmClient(Profile.load("reader", join(home, "profiles")), { server: directory.endpoint });
    await reader.join("general");
  });

  after(async () => {
    for (const s of attackers) s.close();
    await reader?.close();
    await Promise.all([group?.proc.stop(), directory?.proc.stop()]);
    cleanup();
  });

  it(`${CONNECTIONS} connections asking ${REQUESTS} times each for pages of the largest texts stay under ${LIMIT_MB} MB`, {
    timeout: 120_000,
  }, async (t) => {
    const pid = group.proc.child.pid as number;
    const start = rssMb(pid);
    const attacker = new GmClient(Profile.load("attacker", join(home, "profiles")), { server: directory.endpoint });
    await attacker.join("general");
    const user = attacker.user;
    await attacker.close();
    for (let c = 0; c < CONNECTIONS; c++) {
      // One message in, then nothing: TCP fills and the server's queue for this peer with it.
      const s = new zmq.Dealer({ linger: 0, receiveHighWaterMark: 1, sendHighWaterMark: REQUESTS + 10 });
      s.connect(group.endpoint);
      attackers.push(s);
    }
    const body = { group: "general", user, after: STORED, limit: 1000 };
    await Promise.all(
      attackers.map(async (s, c) => {
        for (let i = 0; i < REQUESTS; i++) await s.send(encodeRequest(GroupCommand.History, `a${c}-${i}`, body));
      }),
    );
    // While the attackers sit there, another member is served as usual; the peak is sampled
    // throughout.
    let peak = rssMb(pid);
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMb(pid));
    }, 50);
    try {
      for (let i = 0; i < 5; i++) {
        const { seq } = await reader.send("general", `still here ${i}`);
        assert.equal(seq, STORED + BIG + i + 1);
        const newest = await reader.messages("general", { limit: 3 });
        assert.equal(newest.at(-1)?.seq, seq);
      }
      await new Promise((r) => setTimeout(r, 2000));
    } finally {
      clearInterval(sampler);
    }
    t.diagnostic(`group server RSS: ${start.toFixed(0)} MB before, peak ${peak.toFixed(0)} MB under the attack`);
    assert.ok(peak < LIMIT_MB, `RSS peaked at ${peak.toFixed(0)} MB (started at ${start.toFixed(0)} MB)`);
  });
});
