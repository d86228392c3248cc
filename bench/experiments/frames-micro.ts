/**
 * What ZeroMQ frames cost in zeromq.js: the measurement behind GM/2 putting each request, reply
 * and event in one frame (docs/PROTOCOL.md §2). Plain zeromq, no gm code; the same bytes are sent
 * as several frames or as one.
 *
 *   echo    pipelined ROUTER/DEALER echo, 100 requests in flight, 3 s per run: a 4-frame request
 *           and reply (GM/1's layout: signature, command, id, 220-byte body) against one frame
 *           holding the same bytes. Messages/s and CPU per message on each side.
 *   pubsub  PUB -> SUB, 200,000 messages: 3 frames (GM/1's event: 37-byte topic, kind, 250-byte
 *           body) against one frame; CPU per message received.
 *
 * Each variant runs three times, alternating, in fresh sockets and a fresh child process.
 *
 *   node --import tsx bench/experiments/frames-micro.ts
 */
import { fork } from "node:child_process";
import * as zmq from "zeromq";

const SELF = new URL(import.meta.url).pathname;
const REQUEST = [Buffer.from("GM/1"), Buffer.from("SEND"), Buffer.from("1a2b"), Buffer.alloc(220, 0x61)];
const EVENT = [Buffer.from(`M${"0".repeat(36)}`), Buffer.from("MESSAGE"), Buffer.alloc(250, 0x61)];
const SUB_MESSAGES = 200_000;
const cpuUs = (since: NodeJS.CpuUsage) => {
  const c = process.cpuUsage(since);
  return c.user + c.system;
};

/** Child: the DEALER side of the echo; reports messages/s and its CPU per message. */
async function echoClient(endpoint: string, frames: Buffer[]): Promise<void> {
  const d = new zmq.Dealer({ linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0 });
  d.connect(endpoint);
  const end = performance.now() + 3000;
  const c0 = process.cpuUsage();
  let sent = 0;
  let got = 0;
  for (; sent < 100; sent++) await d.send(frames);
  for await (const _ of d) {
    got++;
    if (performance.now() < end) {
      await d.send(frames);
      sent++;
    } else if (got === sent) break;
  }
  process.send?.({ rate: got / 3, cpu: cpuUs(c0) / got }, () => process.disconnect?.());
  d.close();
}

/** Child: a SUB socket; reports its CPU per message received. */
async function subscriber(endpoint: string): Promise<void> {
  const s = new zmq.Subscriber({ linger: 0, receiveHighWaterMark: 0 });
  s.subscribe("M");
  s.connect(endpoint);
  let n = 0;
  let c0 = process.cpuUsage();
  for await (const _ of s) {
    if (n === 0) c0 = process.cpuUsage();
    if (++n === SUB_MESSAGES) break;
  }
  process.send?.({ cpu: cpuUs(c0) / SUB_MESSAGES }, () => process.disconnect?.());
  s.close();
}

function child(args: string[]): { result: Promise<Record<string, number>>; stop: () => void } {
  const c = fork(SELF, args, { stdio: "inherit" });
  const result = new Promise<Record<string, number>>((resolve, reject) => {
    c.once("message", (m) => resolve(m as Record<string, number>));
    c.once("exit", (code) => reject(new Error(`child exited with ${code} before reporting`)));
  });
  return { result, stop: () => c.kill() };
}

async function echo(frames: Buffer[]): Promise<string> {
  const r = new zmq.Router({ linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0 });
  await r.bind("tcp://127.0.0.1:*");
  const peer = child(["echo-client", r.lastEndpoint as string, String(frames.length)]);
  const c0 = process.cpuUsage();
  let n = 0;
  const loop = (async () => {
    try {
      for await (const f of r) {
        n++;
        await r.send(f);
      }
    } catch {
      // closed
    }
  })();
  try {
    const res = await peer.result;
    return `${Math.round(res.rate ?? 0)} msg/s, client ${res.cpu?.toFixed(1)} us/msg, server ${(cpuUs(c0) / n).toFixed(1)} us/msg`;
  } finally {
    peer.stop();
    r.close();
    await loop;
  }
}

async function pubsub(frames: Buffer[]): Promise<string> {
  const p = new zmq.Publisher({ linger: 0, sendHighWaterMark: 0 });
  await p.bind("tcp://127.0.0.1:*");
  const peer = child(["subscriber", p.lastEndpoint as string]);
  let done: Record<string, number> | undefined;
  void peer.result.then((r) => {
    done = r;
  });
  try {
    // Publish until the subscriber has counted its messages (it joins a little late: slow joiner).
    for (let i = 0; done === undefined; i++) {
      await p.send(frames);
      if (i % 1000 === 0) await new Promise((r) => setImmediate(r));
    }
    return `subscriber ${(await peer.result).cpu?.toFixed(2)} us/msg`;
  } finally {
    peer.stop();
    p.close();
  }
}

const [role, endpoint, count] = process.argv.slice(2);
if (role === "echo-client") {
  await echoClient(endpoint as string, count === "1" ? [Buffer.concat(REQUEST)] : REQUEST);
} else if (role === "subscriber") {
  await subscriber(endpoint as string);
} else {
  for (let round = 1; round <= 3; round++) {
    console.log(`echo, 4 frames: ${await echo(REQUEST)}`);
    console.log(`echo, 1 frame:  ${await echo([Buffer.concat(REQUEST)])}`);
  }
  for (let round = 1; round <= 3; round++) {
    console.log(`pub/sub, 3 frames: ${await pubsub(EVENT)}`);
    console.log(`pub/sub, 1 frame:  ${await pubsub([Buffer.concat(EVENT)])}`);
  }
}
