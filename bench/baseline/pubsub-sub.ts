/**
 * Baseline pub/sub subscriber process: holds K SUB sockets (each its own TCP
 * connection to the publisher, each subscribed to everything) and records,
 * per socket and per data message, the send-to-receive latency. See
 * bench/lib/pubsub-layout.ts for how subscribers are spread over processes.
 *
 *   --endpoint tcp://127.0.0.1:PORT   (required)
 *   --sockets K                       SUB sockets in this process (default 1)
 *   --server-key K                    CURVE towards a publisher with that key (pubsub.ts --curve)
 *
 * Child protocol (see bench/lib/worker.ts):
 *   ready  -> { sockets }  once EVERY socket has received a warm-up message,
 *                          i.e. every subscription is live at the publisher
 *   stop   <-              close all sockets (ends the receive loops)
 *   result -> { sockets, received, duplicates, latenciesUs }
 *
 * Each socket has exactly one `for await` receive loop; nothing is sent.
 * Latency = (performance.timeOrigin + performance.now() at receive) - (send
 * time in the message), in microseconds, rounded to 0.1 us. With K > 1, the
 * K sockets of a process share one event loop, so the last socket to be served
 * sees the others' processing time too; that is part of what is measured.
 */
import { parseArgs } from "node:util";
import * as zmq from "zeromq";
import { curveClient } from "../lib/curve.js";
import { progress } from "../lib/output.js";
import { decodeMessage, KIND_DATA, KIND_WARMUP } from "../lib/pubsub-layout.js";
import { Samples } from "../lib/stats.js";
import { wallMs } from "../lib/time.js";
import { runWorker, waitForStop, workerReady, workerResult } from "../lib/worker.js";

const { values } = parseArgs({
  options: {
    endpoint: { type: "string" },
    sockets: { type: "string", default: "1" },
    "server-key": { type: "string" },
  },
});

export interface SubscriberResult {
  sockets: number;
  /** Data messages received, summed over sockets. */
  received: number;
  /** Data messages received twice on the same socket (should be 0). */
  duplicates: number;
  latenciesUs: number[];
}

runWorker(async () => {
  const endpoint = values.endpoint;
  if (endpoint === undefined) throw new Error("--endpoint is required");
  const k = Math.max(1, Number.parseInt(values.sockets, 10));

  const latencies = new Samples(1 << 16);
  let received = 0;
  let duplicates = 0;
  let warmCount = 0;
  let signalWarm: () => void = () => {};
  const allWarm = new Promise<void>((resolve) => {
    signalWarm = resolve;
  });

  const sockets: zmq.Subscriber[] = [];
  let closing = false;
  const loops: Promise<void>[] = [];
  for (let i = 0; i < k; i++) {
    const serverKey = values["server-key"];
    const sock = new zmq.Subscriber({
      linger: 0,
      receiveHighWaterMark: 100_000,
      ...(serverKey !== undefined && curveClient(serverKey)),
    });
    sock.subscribe();
    sock.connect(endpoint);
    sockets.push(sock);
    loops.push(
      (async () => {
        let warm = false;
        let lastSeq = -1;
        try {
          for await (const [frame] of sock) {
            const t = wallMs();
            const m = frame === undefined ? undefined : decodeMessage(frame);
            if (m === undefined) continue;
            if (!warm) {
              warm = true;
              if (++warmCount === k) signalWarm();
            }
            if (m.kind === KIND_WARMUP) continue;
            if (m.kind !== KIND_DATA) continue;
            if (m.seq <= lastSeq) {
              duplicates++;
              continue;
            }
            lastSeq = m.seq;
            received++;
            latencies.push(Math.round((t - m.sentMs) * 10_000) / 10);
          }
        } catch (err) {
          // A receive under way when we close the socket may fail ("Socket operation on
          // non-socket", seen under load) instead of ending the loop: only then is it expected.
          if (!closing) throw err;
        }
      })(),
    );
  }

  const stopped = waitForStop();
  await Promise.race([allWarm, stopped]);
  await workerReady({ sockets: k });

  await stopped;
  closing = true;
  for (const s of sockets) s.close();
  await Promise.all(loops);
  progress(`pubsub-sub: ${k} socket(s), ${received} data messages`);
  const result: SubscriberResult = { sockets: k, received, duplicates, latenciesUs: latencies.toArray() };
  await workerResult(result);
});
