/**
 * Baseline pub/sub publisher: a PUB bound to tcp://127.0.0.1:* that sends
 * 100-byte messages at a fixed rate. Subscribers are separate processes
 * (bench/baseline/pubsub-sub.ts); the layout of subscriber sockets over
 * processes is described in bench/lib/pubsub-layout.ts.
 *
 *   --rate R         data messages per second (default 1000)
 *   --seconds S      length of the measured phase (default 1)
 *   --warmup-ms M    interval of warm-up messages before start (default 5)
 *   --warmup-seconds W  unmeasured warm-up at the full rate after start (default 0.5)
 *   --via ENDPOINT   send each message to a relay (bench/baseline/relay.ts) over a DEALER
 *                    instead of publishing it here; the relay publishes it and acknowledges it
 *   --curve          the PUB is a CURVE server with a fresh keypair (bench/lib/curve.ts); its key
 *                    is in the ready message, for pubsub-sub.ts --server-key (not with --via)
 *
 * Child protocol (see bench/lib/worker.ts):
 *   ready  -> { endpoint, serverKey? }
 *            From then on a KIND_WARMUP message is published every M ms so
 *            that each subscriber can see that its subscription is live
 *            (avoids the PUB/SUB "slow joiner" loss) before it reports ready.
 *   start  <-  stop the slow warm-up, publish rate*W KIND_WARMUP messages
 *              (warm-up at full rate), then rate*S KIND_DATA messages; both
 *              paced against the monotonic clock (catching up in bursts if late).
 *   result -> { sent, elapsedMs, rate }   (socket stays open for delivery)
 *   stop   <-  close the socket.
 *
 * Every message carries its send time as `performance.timeOrigin +
 * performance.now()` (ms, sub-ms resolution) so subscribers in other processes
 * can compute send-to-receive latency. Measured on this machine, the
 * per-process origin of that clock agrees between processes to within ~10 us.
 *
 * Only one async function sends at any time (warm-up loop is awaited before
 * the data loop starts), so there is never more than one pending send.
 */

import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import * as zmq from "zeromq";
import { curveServer } from "../lib/curve.js";
import { progress } from "../lib/output.js";
import { encodeMessage, KIND_DATA, KIND_WARMUP } from "../lib/pubsub-layout.js";
import { sleep, wallMs } from "../lib/time.js";
import { runWorker, waitForStart, waitForStop, workerReady, workerResult } from "../lib/worker.js";

const { values } = parseArgs({
  options: {
    rate: { type: "string", default: "1000" },
    seconds: { type: "string", default: "1" },
    "warmup-ms": { type: "string", default: "5" },
    "warmup-seconds": { type: "string", default: "0.5" },
    via: { type: "string" },
    curve: { type: "boolean", default: false },
  },
});

export interface PublisherResult {
  sent: number;
  elapsedMs: number;
  rate: number;
}

runWorker(async () => {
  const rate = Number.parseFloat(values.rate);
  const seconds = Number.parseFloat(values.seconds);
  const warmupMs = Number.parseFloat(values["warmup-ms"]);
  const warmupSeconds = Number.parseFloat(values["warmup-seconds"]);
  if (!(rate > 0) || !(seconds > 0)) throw new Error("--rate and --seconds must be > 0");
  if (values.curve && values.via !== undefined) throw new Error("--curve is for the direct PUB, not with --via");
  const curve = values.curve ? curveServer() : undefined;

  // A generous per-peer high-water mark: a subscriber process that is not
  // scheduled for a while should see late messages, not silently lose them.
  let sock: zmq.Publisher | zmq.Dealer;
  let endpoint: string | null;
  let acks: Promise<void> | undefined;
  if (values.via === undefined) {
    sock = new zmq.Publisher({ linger: 0, sendHighWaterMark: 100_000, ...curve?.options });
    await sock.bind("tcp://127.0.0.1:*");
    endpoint = sock.lastEndpoint;
  } else {
    // Through a relay: its acknowledgements are read and dropped (the sender does not wait).
    const dealer = new zmq.Dealer({ linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0 });
    dealer.connect(values.via);
    acks = (async () => {
      try {
        for await (const _ of dealer);
      } catch (err) {
        if (!dealer.closed) throw err;
      }
    })();
    sock = dealer;
    endpoint = values.via;
  }
  if (endpoint === null) throw new Error("no endpoint after bind");
  const stopped = waitForStop();

  let warming = true;
  const warmup = (async () => {
    let n = 0;
    while (warming) {
      await sock.send(encodeMessage(KIND_WARMUP, n++, wallMs()));
      await sleep(warmupMs);
    }
  })();

  const start = waitForStart();
  await workerReady({ endpoint, ...(curve && { serverKey: curve.serverKey }) });
  progress(`pubsub: publishing on ${endpoint}${curve ? " (CURVE)" : ""}`);
  await Promise.race([start, stopped]);
  warming = false;
  await warmup;

  let aborted = false;
  void stopped.then(() => {
    aborted = true;
  });
  const intervalMs = 1000 / rate;

  /** Send `total` messages of `kind` at `rate`; returns [sent, elapsed ms]. */
  const paced = async (kind: number, total: number): Promise<[number, number]> => {
    const t0 = performance.now();
    let sent = 0;
    while (sent < total && !aborted) {
      const due = t0 + sent * intervalMs;
      const now = performance.now();
      if (now < due) {
        await sleep(due - now);
        continue;
      }
      await sock.send(encodeMessage(kind, sent, wallMs()));
      sent++;
    }
    // The last message opens the last interval: wait it out so that the
    // period is sent * interval and the rate is not overstated.
    const left = t0 + sent * intervalMs - performance.now();
    if (left > 0 && !aborted) await sleep(left);
    return [sent, performance.now() - t0];
  };

  // Warm-up at the full rate (JIT, TCP buffers, subscriber event loops), not measured.
  if (warmupSeconds > 0) await paced(KIND_WARMUP, Math.round(rate * warmupSeconds));
  const [sent, elapsedMs] = await paced(KIND_DATA, Math.max(1, Math.round(rate * seconds)));
  const result: PublisherResult = { sent, elapsedMs, rate: sent / (elapsedMs / 1000) };
  progress(`pubsub: sent ${sent} in ${elapsedMs.toFixed(0)} ms (${result.rate.toFixed(0)} msg/s)`);
  await workerResult(result);

  // Keep the socket open until told to stop, so queued messages are delivered.
  await stopped;
  sock.close();
  await acks;
});
