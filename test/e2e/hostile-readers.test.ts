/**
 * Issue 14: no client behaviour takes a group server over 200 MB of memory, with 1,000,000 stored
 * messages. The attacker is a member that asks for history on many connections, over and over,
 * and never reads a reply (its sockets take one message and then let TCP fill), as a trial on a
 * secure server did with 128 connections: the group server went from 68 to 758 MB and stayed near
 * it after the attacker left. What grew was the requests waiting in ZeroMQ (10,000 per
 * connection), the replies ZeroMQ held for each connection (16 pages of 96 KiB each) and the
 * pages the process built for them. Now a connection has at most PEER_QUEUED_REQUESTS requests
 * waiting, and the replies that may sit unread, whatever the number of connections, are bounded
 * by REPLY_BUDGET (in all, and per user): a request for a page beyond it gets `300 BUSY`.
 *
 * The bound is measured on the real `gm group` process (RSS from /proc), while another member
 * goes on sending and reading pages through it. Once the attacker's connections are closed, what
 * was counted for them is freed: the attacker itself reads a full page again at once.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Limits } from "../../src/protocol/constants.js";
import { clientProof } from "../../src/protocol/keys.js";
import { SqliteGroupStore } from "../../src/store/sqlite.js";
import { GmClient } from "../../src/user/client.js";
import { Profile } from "../../src/user/profile.js";
import { fillStore } from "../../support/fill-store.js";
import { GmProcess, rssMb, startDirectory, startGroup, tempHome } from "../helpers/gm.js";

const FLOOD = join(import.meta.dirname, "../helpers/history-flood.ts");
const STORED = 1_000_000;
/** The largest texts SEND accepts, all control characters: 96 KiB each as JSON, one to a page. */
const BIG = 200;
const TEXT = "\u0001".repeat(Limits.textJsonBytes / 6);
const CONNECTIONS = 128;
/** How long the attack goes on while the other member is served. */
const ATTACK_MS = 15_000;
const LIMIT_MB = 200;

describe("a member that never reads its replies, on 128 connections", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home };
  const dataDir = join(home, "data");
  let directory: { proc: GmProcess; endpoint: string; key: string };
  let group: { proc: GmProcess; endpoint: string; key: string };
  const clients: GmClient[] = [];
  let flood: GmProcess | undefined;

  const client = (name: string): GmClient => {
    const profile = Profile.load(name, join(home, "profiles"));
    const c = new GmClient(profile, {
      server: directory.endpoint,
      security: { keys: profile.keys, serverKey: directory.key },
    });
    clients.push(c);
    return c;
  };

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
    directory = await startDirectory(env);
    group = await startGroup(["general"], { env, server: directory.endpoint, dataDir });
  });

  after(async () => {
    await flood?.stop();
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all([group?.proc.stop(), directory?.proc.stop()]);
    cleanup();
  });

  it(`stays under ${LIMIT_MB} MB while another member is served, and frees its count when it leaves`, {
    timeout: 180_000,
  }, async (t) => {
    const pid = group.proc.child.pid as number;
    const reader = client("reader");
    await reader.join("general");
    const attacker = client("attacker");
    await attacker.join("general");
    const keys = Profile.load("attacker", join(home, "profiles")).keys;
    const start = rssMb(pid);

    // The attacker's own process: 128 connections, each asking for a page of a big text again
    // and again, reading nothing.
    const spec = {
      endpoint: group.endpoint,
      connections: CONNECTIONS,
      serverKey: group.key,
      publicKey: keys.publicKey,
      secretKey: keys.secretKey,
      body: {
        group: "general",
        user: attacker.user,
        after: STORED,
        limit: 1000,
        key: keys.publicKey,
        proof: clientProof(keys, group.key),
      },
    };
    let peak = start;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMb(pid));
    }, 50);
    let rounds = 0;
    try {
      flood = new GmProcess([JSON.stringify(spec)], env, { script: FLOOD });
      await flood.waitFor(/flooding/, 30_000);
      // Meanwhile another member sends and reads pages of the big texts; every request of it
      // succeeds (its client retries a 300 as usual).
      const until = Date.now() + ATTACK_MS;
      let seq = STORED + BIG;
      while (Date.now() < until) {
        const sent = await reader.send("general", `still here ${rounds}`);
        assert.ok(sent.seq > seq, "the member's message is stored after the earlier ones");
        seq = sent.seq;
        const page = await reader.page("general", { after: STORED + (rounds % BIG), limit: 1000 });
        assert.equal(page.messages[0]?.seq, STORED + (rounds % BIG) + 1);
        assert.equal(page.messages[0]?.text, TEXT);
        rounds++;
      }
      assert.ok(flood.running, "the attacker was still at it when the attack ended");
    } finally {
      clearInterval(sampler);
    }
    t.diagnostic(
      `group server RSS: ${start.toFixed(0)} MB before, peak ${peak.toFixed(0)} MB under the attack; ` +
        `the other member did ${rounds} sends and pages meanwhile`,
    );
    assert.ok(peak < LIMIT_MB, `RSS peaked at ${peak.toFixed(0)} MB (started at ${start.toFixed(0)} MB)`);
    // The budget did its part: the attacker was refused pages.
    assert.match(group.proc.stdout, /answered BUSY: replies to one user/);

    // The attacker's connections go, and what was counted for them with them: the attacker reads a
    // full page of a big text again (on the connection it joined with), not BUSY on every try.
    await flood.stop();
    const fresh = await attacker.page("general", { after: STORED, limit: 1000 });
    assert.equal(fresh.messages.length, 1);
    assert.equal(fresh.messages[0]?.text, TEXT);
  });
});
