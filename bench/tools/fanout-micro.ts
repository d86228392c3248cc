/**
 * Micro-benchmark of the cost a ROUTER socket pays in Node (zeromq.js) per pushed event, as the
 * group server's live delivery does it (one send per subscriber per message), in variants:
 *
 *   buffer   [routingId, "GM/1", "MESSAGE", group, body-Buffer]  (gm today: body > 128 bytes is
 *            sent zero-copy, released later through an async call back to the main thread)
 *   string   the same with the body frame as a JS string (copied to a std::string, freed on the
 *            I/O thread)
 *   1frame   [routingId, one Buffer holding everything]
 *
 * The peers (DEALERs, --peers, default 100) live in one child process that only counts.
 *
 *   node --import tsx bench/tools/fanout-micro.ts [--peers 100] [--rounds 2000] [--send-timeout 0]
 */
import { fork } from "node:child_process";
import { parseArgs } from "node:util";
import * as zmq from "zeromq";

const { values } = parseArgs({
  options: {
    peers: { type: "string", default: "100" },
    rounds: { type: "string", default: "2000" },
    child: { type: "string" },
    variant: { type: "string" },
    "send-timeout": { type: "string" },
  },
});
const peers = Number.parseInt(values.peers, 10);

if (values.child !== undefined) {
  // Child: `peers` DEALERs with fixed routing ids; counts what arrives; reports on request.
  let got = 0;
  const socks = Array.from({ length: peers }, (_, i) => {
    const s = new zmq.Dealer({ routingId: `m${i}`, linger: 0, receiveHighWaterMark: 0 });
    s.connect(values.child as string);
    void (async () => {
      try {
        for await (const _ of s) got++;
      } catch {}
    })();
    return s;
  });
  await Promise.all(socks.map((s) => s.send("hello")));
  process.send?.("ready");
  process.on("message", (m) => {
    if (m === "count") process.send?.({ got });
    if (m === "exit") {
      for (const s of socks) s.close();
      process.exit(0);
    }
  });
} else {
  // --send-timeout 0 makes zeromq.js skip its ZMQ_EVENTS check (a poll(2) per send) and resolve
  // every send synchronously; a ROUTER without ROUTER_MANDATORY never blocks anyway.
  const sendTimeout = values["send-timeout"] === undefined ? -1 : Number.parseInt(values["send-timeout"], 10);
  const router = new zmq.Router({ linger: 0, sendHighWaterMark: 0, sendTimeout });
  await router.bind("tcp://127.0.0.1:*");
  const endpoint = router.lastEndpoint as string;
  const child = fork(import.meta.filename, ["--child", endpoint, "--peers", String(peers)], {
    execArgv: ["--import", "tsx"],
  });
  const ask = (): Promise<number> =>
    new Promise((r) => {
      child.once("message", (m) => r((m as { got: number }).got));
      child.send("count");
    });
  await new Promise((r) => child.once("message", r));
  const ids: Buffer[] = [];
  for await (const [id] of router) {
    ids.push(id as Buffer);
    if (ids.length === peers) break;
  }
  const rounds = Number.parseInt(values.rounds, 10);
  const body = Buffer.from(
    JSON.stringify({
      seq: 1,
      ts: Date.now(),
      id: "0".repeat(36),
      user: "u".repeat(36),
      name: "member-1",
      text: "x".repeat(100),
    }),
  );
  const sig = Buffer.from("GM/1");
  const kind = Buffer.from("MESSAGE");
  const group = Buffer.from("bench");
  const variants: Record<string, (id: Buffer) => (Buffer | string)[]> = {
    buffer: (id) => [id, sig, kind, group, body],
    string: (id) => [id, sig, kind, group, body.toString()],
    "1frame": (id) => [id, Buffer.concat([sig, kind, group, body])],
  };
  let expected = 0;
  for (const name of values.variant ? [values.variant] : Object.keys(variants)) {
    const make = variants[name] as (id: Buffer) => (Buffer | string)[];
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let r = 0; r < rounds; r++) for (const id of ids) await router.send(make(id));
    const sendMs = performance.now() - t0;
    expected += rounds * peers;
    while ((await ask()) < expected) await new Promise((r) => setTimeout(r, 10));
    const cpu = process.cpuUsage(cpu0);
    const n = rounds * peers;
    console.log(
      `${name.padEnd(7)} ${n} sends: ${((sendMs * 1000) / n).toFixed(2)} us/send on the loop, ${((cpu.user + cpu.system) / n).toFixed(2)} us CPU/send (process, incl. I/O thread), ${(n / (sendMs / 1000)).toFixed(0)} sends/s`,
    );
  }
  child.send("exit");
  router.close();
}
