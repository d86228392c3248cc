/**
 * Issue 14: subscriptions on the events port cannot take a group server's memory. No membership
 * is needed to send them: the issue measured 200,000 distinct 250-byte subscriptions taking the
 * server from 68 to 2,397 MB, kept after the attacker left. libzmq records every subscription a
 * peer sends (manual mode keeps them to report at disconnect), applied or not, and zeromq.js can
 * neither drop one peer of a bound socket nor tell which peer sent what; so the server counts what
 * the records may cost and, past SUBSCRIPTION_BUDGET_BYTES, reopens its events socket, which frees
 * them all. Members reconnect by themselves and fill what they missed from history.
 *
 * Against a spawned `gm group`: a raw XSUB sends 200,000 subscriptions of the longest topic the
 * events socket takes as fast as the server takes them; the server's RSS stays bounded, and a
 * member following the group gets every message sent during and after the flood, once each and in
 * order. Both with CURVE (the default, where any key may connect and topics may be longest) and
 * with --insecure.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as zmq from "zeromq";
import { Limits, Topic } from "../../src/protocol/constants.js";
import type { StoredMessage } from "../../src/protocol/types.js";
import { GmClient } from "../../src/user/client.js";
import { Profile } from "../../src/user/profile.js";
import { type GmProcess, rssMb, startDirectory, startGroup, tempHome } from "../helpers/gm.js";

const SUBSCRIPTIONS = 200_000;
const LIMIT_MB = 200;

async function waitFor(what: string, ok: () => boolean, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The longest topics each events socket takes: 256 bytes on the wire (Limits.subscriptionBytes,
 * 10 of them the ZMTP 3.1 SUBSCRIBE command's), or 600 inside a CURVE MESSAGE box (43 bytes more).
 */
const MODES = [
  { name: "with CURVE", insecure: false, topicBytes: Limits.secureSubscriptionBytes - 43 },
  { name: "with --insecure", insecure: true, topicBytes: Topic.subscriptionMaxBytes },
] as const;

for (const mode of MODES) {
  describe(`a flood of subscriptions on the events port, ${mode.name}`, () => {
    const { home, cleanup } = tempHome();
    const env = { GM_HOME: home, ...(mode.insecure && { GM_INSECURE: "1" }) };
    const flags = mode.insecure ? ["--insecure"] : [];
    let directory: { proc: GmProcess; endpoint: string; key: string };
    let group: { proc: GmProcess; endpoint: string; key: string };
    let alice: GmClient;
    let bob: GmClient;
    let attacker: zmq.XSubscriber | undefined;

    before(async () => {
      directory = await startDirectory(env, flags);
      group = await startGroup(["general"], {
        env,
        server: directory.endpoint,
        dataDir: join(home, "data"),
        extra: flags,
      });
      const client = (name: string): GmClient => {
        const profile = Profile.load(name, join(home, "profiles"));
        const security = mode.insecure ? {} : { security: { keys: profile.keys, serverKey: directory.key } };
        return new GmClient(profile, { server: directory.endpoint, ...security });
      };
      alice = client("alice");
      bob = client("bob");
      await alice.join("general");
      await bob.join("general");
    });

    after(async () => {
      attacker?.close();
      await Promise.all([alice?.close(), bob?.close()]);
      await Promise.all([group?.proc.stop(), directory?.proc.stop()]);
      cleanup();
    });

    it(`${SUBSCRIPTIONS} distinct ${mode.topicBytes}-byte subscriptions keep the server under ${LIMIT_MB} MB; members miss nothing`, {
      timeout: 120_000,
    }, async (t) => {
      const pid = group.proc.child.pid as number;
      const seen: number[] = [];
      await bob.follow("general", { limit: 0, onMessage: (m: StoredMessage) => void seen.push(m.seq) });
      const events = /events\s+(tcp:\/\/\S+)/.exec(group.proc.stdout)?.[1];
      assert.ok(events !== undefined, "the group server prints its events endpoint");

      const start = rssMb(pid);
      let peak = start;
      const sampler = setInterval(() => {
        peak = Math.max(peak, rssMb(pid));
      }, 50);
      const sent: number[] = [];
      try {
        // Any key may connect; what it may read is decided per topic.
        const keys = zmq.curveKeyPair();
        attacker = new zmq.XSubscriber({
          linger: 0,
          ...(!mode.insecure && {
            curveServerKey: group.key,
            curvePublicKey: keys.publicKey,
            curveSecretKey: keys.secretKey,
          }),
        });
        attacker.connect(events);
        const pad = "x".repeat(mode.topicBytes - 11);
        const flood = (async () => {
          for (let i = 0; i < SUBSCRIPTIONS; i++) {
            await (attacker as zmq.XSubscriber).send(
              Buffer.from(`\x01M${String(i).padStart(10, "0")}${pad}`, "latin1"),
            );
          }
        })();
        // Messages sent while the flood goes on (and the events socket is reopened under them).
        for (let i = 0; i < 10; i++) {
          sent.push((await alice.send("general", `during ${i}`)).seq);
          await new Promise((r) => setTimeout(r, 200));
        }
        await flood;
        await new Promise((r) => setTimeout(r, 1000));
      } finally {
        clearInterval(sampler);
      }
      attacker.close();
      sent.push((await alice.send("general", "after")).seq);
      await waitFor("bob's messages", () => seen.length >= sent.length);
      t.diagnostic(`group server RSS: ${start.toFixed(0)} MB before, peak ${peak.toFixed(0)} MB under the flood`);
      assert.ok(peak < LIMIT_MB, `RSS peaked at ${peak.toFixed(0)} MB (started at ${start.toFixed(0)} MB)`);
      assert.deepEqual(seen, sent, "bob got every message once, in order");
      assert.match(group.proc.stdout, /reopened the events socket/);
    });
  });
}
