/**
 * gm live delivery, the receiving side (the counterpart of bench/baseline/pubsub-sub.ts): K
 * members in one process, each its own user, its own DEALER (JOIN, SUBSCRIBE) and its own SUB
 * socket on the group server's events endpoint, subscribed to the group's topic from the
 * SUBSCRIBE reply, as the gm client does. A member is ready once the server answered its hello
 * topic (PROTOCOL.md §9), i.e. its subscription is active.
 *
 *   --endpoint tcp://127.0.0.1:PORT --group NAME   (required)
 *   --sockets K          members in this process (default 1)
 *   --server-key K       the group server's public key: each member's DEALER and SUB talk CURVE
 *                        with a keypair of its own, and its requests carry key + proof
 *
 * Child protocol (bench/lib/worker.ts):
 *   ready  -> { sockets }   once every member's subscription is active
 *   stop   <-               close every socket
 *   result -> { sockets, received, duplicates, gaps, latenciesUs }
 *
 * Latency = receive time (performance.timeOrigin + performance.now(), taken as the frames come off
 * the socket) - the send time the sender put in the text, us. Only measured ("D") messages count.
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { progress } from "../lib/output.js";
import { Samples } from "../lib/stats.js";
import { wallMs } from "../lib/time.js";
import { runWorker, waitForStop, workerReady, workerResult } from "../lib/worker.js";
import { Conn, decodeEvent, newUser, subscriber } from "./wire.js";

const { values } = parseArgs({
  options: {
    endpoint: { type: "string" },
    group: { type: "string" },
    sockets: { type: "string", default: "1" },
    "server-key": { type: "string" },
  },
});

export interface LiveMemberResult {
  sockets: number;
  received: number;
  duplicates: number;
  /** Jumps in seq (events ZeroMQ dropped for a slow subscriber). */
  gaps: number;
  latenciesUs: number[];
}

const HELLO = Symbol("hello");
const MESSAGE_BODY = Buffer.from(' MESSAGE\n{"seq":');
const TEXT = Buffer.from('"text":"');

/**
 * The seq of a MESSAGE event and the send time its text carries, read straight from the frame:
 * as lean as the baseline subscriber's binary decode, because on 2 cores every microsecond a
 * member spends (JSON.parse of the whole body is ~2 us, 100,000 times a second) is taken from the
 * server. gm's server writes `seq` first; anything else goes through the full decoder.
 */
function leanMessage(frames: Buffer[]): { seq: number; measured: boolean; sentMs: number } | typeof HELLO {
  const [frame] = frames;
  if (frames.length === 1 && frame !== undefined) {
    const head = frame.indexOf(0x20) + 1;
    const at = frame.indexOf(TEXT, head);
    if (
      head > 0 &&
      at > 0 &&
      frame.compare(MESSAGE_BODY, 0, MESSAGE_BODY.length, head - 1, head - 1 + MESSAGE_BODY.length) === 0
    ) {
      let seq = 0;
      for (let i = head - 1 + MESSAGE_BODY.length; frame[i] !== 0x2c; i++) seq = seq * 10 + ((frame[i] as number) - 48);
      const text = at + TEXT.length;
      // The text is "D|<n>|<sent ms>|..." (measured) or "W|..." (warm-up).
      const sentAt = frame.indexOf(0x7c, text + 2) + 1;
      const sentMs = Number(frame.toString("latin1", sentAt, frame.indexOf(0x7c, sentAt)));
      return { seq, measured: frame[text] === 0x44, sentMs };
    }
  }
  const event = decodeEvent(frames);
  if (event.type !== "event") throw new Error(`malformed event: ${event.reason}`);
  if (event.kind === "HELLO") return HELLO;
  const m = event.body as { seq: number; text: string };
  const [tag, , sent] = m.text.split("|", 3);
  return { seq: m.seq, measured: tag === "D", sentMs: Number(sent) };
}

runWorker(async () => {
  const endpoint = values.endpoint;
  const group = values.group;
  if (endpoint === undefined || group === undefined) throw new Error("--endpoint and --group are required");
  const k = Math.max(1, Number.parseInt(values.sockets, 10));

  const latencies = new Samples(1 << 16);
  let received = 0;
  let duplicates = 0;
  let gaps = 0;

  const member = async () => {
    const me = newUser("member", values["server-key"]);
    const { user, name } = me;
    const conn = new Conn(endpoint, me);
    await conn.request("JOIN", { group, user, name });
    const sub = (await conn.request("SUBSCRIBE", { group, user })) as { events: string; topic: string };
    await conn.close();
    const hello = `H${randomBytes(8).toString("hex")}/`;
    const sock = subscriber(sub.events, me.security, [sub.topic, hello]);
    let lastSeq = -1;
    let live!: () => void;
    const isLive = new Promise<void>((r) => {
      live = r;
    });
    const loop = (async () => {
      try {
        for await (const frames of sock) {
          const t = wallMs();
          const m = leanMessage(frames);
          if (m === HELLO) {
            live();
            continue;
          }
          if (m.seq <= lastSeq) {
            duplicates++;
            continue;
          }
          if (lastSeq >= 0 && m.seq > lastSeq + 1) gaps++;
          lastSeq = m.seq;
          if (!m.measured) continue;
          received++;
          latencies.push(Math.round((t - m.sentMs) * 10_000) / 10);
        }
      } catch (err) {
        if (!sock.closed) throw err;
      }
    })();
    await isLive;
    return { sock, loop };
  };

  const stopped = waitForStop();
  const members = await Promise.all(Array.from({ length: k }, member));
  await workerReady({ sockets: k });
  await stopped;
  for (const m of members) m.sock.close();
  await Promise.all(members.map((m) => m.loop));
  progress(`gm live-member: ${k} socket(s), ${received} messages, ${gaps} gaps`);
  const result: LiveMemberResult = { sockets: k, received, duplicates, gaps, latenciesUs: latencies.toArray() };
  await workerResult(result);
});
