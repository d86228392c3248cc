/**
 * gm live delivery, the receiving side (the counterpart of bench/baseline/pubsub-sub.ts): K
 * members in one process, each its own DEALER socket (its own TCP connection to the group server)
 * and its own user. Each JOINs the group and SUBSCRIBEs; the group server then pushes every new
 * message as an event ["GM/1", "MESSAGE", group, message-json] on that socket. The subscription is
 * refreshed every 5 s, as a client must (it expires after 15 s).
 *
 *   --endpoint tcp://127.0.0.1:PORT --group NAME   (required)
 *   --sockets K          members (sockets) in this process (default 1)
 *   --events ENDPOINT    experiment: receive from this PUB endpoint with one SUB socket per member
 *                        (subscribed to the group's topic) instead of SUBSCRIBE on the DEALER;
 *                        see bench/tools/group-lean.mjs GM_LEAN_PUB
 *
 * Child protocol (bench/lib/measure.ts):
 *   ready  -> { sockets }   once every socket's SUBSCRIBE has been answered (so it is live)
 *   stop   <-               UNSUBSCRIBE and close every socket
 *   result -> { sockets, received, duplicates, gaps, latenciesUs }
 *
 * Latency = receive time (performance.timeOrigin + performance.now(), taken as the frames come off
 * the socket) - the send time the sender put in the text, us. Only measured ("D") messages count.
 */
import { parseArgs } from "node:util";
import * as zmq from "zeromq";
import { progress, runWorker, Samples, sleep, waitForStop, wallMs, workerReady, workerResult } from "../lib/measure.js";
import { Conn, newUser } from "./wire.js";

const { values } = parseArgs({
  options: {
    endpoint: { type: "string" },
    group: { type: "string" },
    sockets: { type: "string", default: "1" },
    events: { type: "string" },
  },
});

export interface LiveMemberResult {
  sockets: number;
  received: number;
  duplicates: number;
  /** GAP events (the server dropped messages for a slow subscriber). */
  gaps: number;
  latenciesUs: number[];
}

const REFRESH_MS = 5_000;

runWorker(async () => {
  const endpoint = values.endpoint;
  const group = values.group;
  if (endpoint === undefined || group === undefined) throw new Error("--endpoint and --group are required");
  const k = Math.max(1, Number.parseInt(values.sockets, 10));

  const latencies = new Samples(1 << 16);
  let received = 0;
  let duplicates = 0;
  let gaps = 0;

  const subs: zmq.Subscriber[] = [];
  const subLoops: Promise<void>[] = [];
  const members = Array.from({ length: k }, () => {
    let lastSeq = -1;
    const onEvent = (kind: string, _group: string, body: unknown, t: number): void => {
      if (kind === "GAP") {
        gaps++;
        return;
      }
      if (kind !== "MESSAGE") return;
      const m = body as { seq: number; text: string };
      if (m.seq <= lastSeq) {
        duplicates++;
        return;
      }
      lastSeq = m.seq;
      const [tag, , sent] = m.text.split("|", 3);
      if (tag !== "D") return;
      received++;
      latencies.push(Math.round((t - Number(sent)) * 10_000) / 10);
    };
    if (values.events !== undefined) {
      const sub = new zmq.Subscriber({ linger: 0, receiveHighWaterMark: 100_000 });
      sub.subscribe(group);
      sub.connect(values.events);
      subs.push(sub);
      subLoops.push(
        (async () => {
          try {
            for await (const [, body] of sub) {
              const t = wallMs();
              onEvent("MESSAGE", group, JSON.parse(String(body)), t);
            }
          } catch (err) {
            if (!sub.closed) throw err;
          }
        })(),
      );
    }
    const conn = new Conn(endpoint, values.events === undefined ? onEvent : () => {}, wallMs);
    return { conn, ...newUser("member") };
  });

  const stopped = waitForStop();
  const subscribe = (m: (typeof members)[number]): Promise<unknown> =>
    m.conn.request("SUBSCRIBE", { group, user: m.user });
  await Promise.all(
    members.map(async (m) => {
      await m.conn.request("JOIN", { group, user: m.user, name: m.name });
      if (values.events === undefined) await subscribe(m);
    }),
  );
  // SUB sockets: give the subscriptions time to reach the publisher (the sender's warm-up
  // phase covers the rest).
  if (values.events !== undefined) await sleep(300);
  const refresh = setInterval(() => {
    if (values.events === undefined) for (const m of members) void subscribe(m).catch(() => {});
  }, REFRESH_MS);
  await workerReady({ sockets: k });

  await stopped;
  clearInterval(refresh);
  await Promise.race([
    Promise.allSettled(members.map((m) => m.conn.request("UNSUBSCRIBE", { group, user: m.user }))),
    new Promise((r) => setTimeout(r, 2000)),
  ]);
  await Promise.all(members.map((m) => m.conn.close()));
  for (const s of subs) s.close();
  await Promise.allSettled(subLoops);
  progress(`gm live-member: ${k} socket(s), ${received} messages, ${gaps} gaps`);
  const result: LiveMemberResult = { sockets: k, received, duplicates, gaps, latenciesUs: latencies.toArray() };
  await workerResult(result);
});
