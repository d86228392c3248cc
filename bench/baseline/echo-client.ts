/**
 * Baseline echo client: `--sockets` DEALERs (one by default) connected to the echo server, each
 * sending 100-byte messages and timing each round trip.
 *
 *   --endpoint tcp://127.0.0.1:PORT   (required)
 *   --sockets N       DEALERs in this process, each its own connection (default 1)
 *   --window W        messages in flight per socket; 1 = strict request/reply (default 1)
 *   --seconds S       run for S seconds (default 1) ...
 *   --messages N      ... or for exactly N round trips (overrides --seconds)
 *   --size B          message size in bytes (default 100)
 *   --warmup-seconds  unmeasured warm-up before the measured phase (default 0.2)
 *   --server-key K    CURVE towards a server with that public key (echo-server.ts --curve); the
 *                     handshake happens during the warm-up
 *
 * Child protocol (see bench/lib/worker.ts):
 *   ready  -> { endpoint }  after connect
 *   start  <-               begin sending
 *   result -> { count, elapsedMs, rate, latenciesUs }
 *
 * With W = 1 the latency is the pure round trip. With W > 1 (pipelined) a new
 * message is sent each time a reply arrives, keeping W in flight; the recorded
 * latency then includes queueing behind the other W-1 messages.
 *
 * Only one loop touches each socket: sends and receives alternate in one async
 * loop per socket, so there is never more than one pending send or receive on it.
 */
import { parseArgs } from "node:util";
import * as zmq from "zeromq";
import { curveClient } from "../lib/curve.js";
import { progress } from "../lib/output.js";
import { Samples, summarize } from "../lib/stats.js";
import { nowNs } from "../lib/time.js";
import { runWorker, waitForStart, workerReady, workerResult } from "../lib/worker.js";

const { values } = parseArgs({
  options: {
    endpoint: { type: "string" },
    sockets: { type: "string", default: "1" },
    window: { type: "string", default: "1" },
    seconds: { type: "string", default: "1" },
    "warmup-seconds": { type: "string", default: "0.2" },
    messages: { type: "string" },
    size: { type: "string", default: "100" },
    "server-key": { type: "string" },
  },
});

export interface EchoClientResult {
  count: number;
  elapsedMs: number;
  rate: number;
  latenciesUs: number[];
}

runWorker(async () => {
  const endpoint = values.endpoint;
  if (endpoint === undefined) throw new Error("--endpoint is required");
  const window = Math.max(1, Number.parseInt(values.window, 10));
  const sockets = Math.max(1, Number.parseInt(values.sockets, 10));
  const seconds = Number.parseFloat(values.seconds);
  const warmupSeconds = Number.parseFloat(values["warmup-seconds"]);
  const messages = values.messages === undefined ? undefined : Number.parseInt(values.messages, 10);
  const size = Math.max(4, Number.parseInt(values.size, 10));

  // receiveTimeout bounds the run even if the server disappears.
  const serverKey = values["server-key"];
  const socks = Array.from({ length: sockets }, () => {
    const sock = new zmq.Dealer({
      linger: 0,
      receiveTimeout: 5000,
      sendHighWaterMark: 0,
      receiveHighWaterMark: 0,
      ...(serverKey !== undefined && curveClient(serverKey)),
    });
    sock.connect(endpoint);
    return sock;
  });
  await workerReady({ endpoint });
  await waitForStart();

  let sent = 0;

  /**
   * One socket's loop in a phase: keep `window` requests in flight until `until()` says stop, then
   * drain. Sends and receives alternate in this one loop.
   */
  const loop = (sock: zmq.Dealer) => {
    const sentAt = new BigInt64Array(window); // indexed by seq % window: at most `window` outstanding
    let seq = 0;
    return async (
      until: (sent: number) => boolean,
      record: Samples | undefined,
    ): Promise<{ count: number; last: bigint }> => {
      let inFlight = 0;
      let count = 0;
      let last = nowNs();
      const sendOne = async (): Promise<void> => {
        const msg = Buffer.alloc(size);
        msg.writeUInt32LE(seq, 0);
        sentAt[seq % window] = nowNs();
        seq = (seq + 1) >>> 0;
        sent++;
        inFlight++;
        await sock.send(msg);
      };
      while (inFlight < window && until(sent)) await sendOne();
      while (inFlight > 0) {
        const [reply] = await sock.receive();
        const t = nowNs();
        if (reply === undefined || reply.length < 4) throw new Error("malformed reply");
        const r = reply.readUInt32LE(0);
        record?.push(Number(t - (sentAt[r % window] ?? t)) / 1000);
        inFlight--;
        count++;
        last = t;
        if (until(sent)) await sendOne();
      }
      return { count, last };
    };
  };
  const loops = socks.map(loop);

  /** Every socket's loop at once; the phase ends when the last one has drained. */
  const phase = async (until: (sent: number) => boolean, record: Samples | undefined) => {
    const start = nowNs();
    sent = 0;
    const each = await Promise.all(loops.map((l) => l(until, record)));
    let last = start; // bigints: no Math.max
    for (const r of each) if (r.last > last) last = r.last;
    return { count: each.reduce((a, r) => a + r.count, 0), start, last };
  };

  const latencies = new Samples(1 << 16);
  let measured: { count: number; start: bigint; last: bigint };
  try {
    if (warmupSeconds > 0) {
      const warmEnd = nowNs() + BigInt(Math.round(warmupSeconds * 1e9));
      await phase(() => nowNs() < warmEnd, undefined);
    }
    const deadline = nowNs() + BigInt(Math.round(seconds * 1e9));
    measured = await phase((sent) => (messages !== undefined ? sent < messages : nowNs() < deadline), latencies);
  } finally {
    for (const sock of socks) sock.close();
  }
  const { count, start, last } = measured;

  const elapsedMs = Number(last - start) / 1e6;
  const rate = elapsedMs > 0 ? count / (elapsedMs / 1000) : 0;
  const s = summarize(latencies.values());
  progress(
    `echo-client: ${count} round trips in ${elapsedMs.toFixed(0)} ms (${rate.toFixed(0)} msg/s, ${sockets} socket(s), W=${window}), p50 ${s.p50.toFixed(1)} us, p99 ${s.p99.toFixed(1)} us`,
  );
  const result: EchoClientResult = { count, elapsedMs, rate, latenciesUs: latencies.toArray() };
  await workerResult(result);
});
