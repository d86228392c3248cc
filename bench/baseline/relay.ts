/**
 * Baseline relay: what the live-delivery path costs with gm's process layout and nothing else.
 * The publisher (bench/baseline/pubsub.ts --via) sends each message over a DEALER to this process,
 * which publishes it on its PUB socket and acknowledges it, as a group server does with a SEND
 * (minus storing it). Subscribers connect to the PUB. Plain zeromq, no gm code.
 *
 * Child protocol (see bench/lib/worker.ts):
 *   ready  -> { router, pub }   the endpoints to send to and to subscribe at
 *   stop   <-                   close both sockets
 *   result -> { relayed }
 */
import * as zmq from "zeromq";
import { progress } from "../lib/output.js";
import { runWorker, waitForStop, workerReady, workerResult } from "../lib/worker.js";

export interface RelayResult {
  relayed: number;
}

runWorker(async () => {
  const router = new zmq.Router({ linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0 });
  const pub = new zmq.Publisher({ linger: 0, sendHighWaterMark: 100_000 });
  await router.bind("tcp://127.0.0.1:*");
  await pub.bind("tcp://127.0.0.1:*");
  const ack = Buffer.alloc(0);
  let relayed = 0;
  const loop = (async () => {
    try {
      for await (const [peer, msg] of router) {
        if (peer === undefined || msg === undefined) continue;
        await pub.send(msg);
        await router.send([peer, ack]);
        relayed++;
      }
    } catch (err) {
      if (!router.closed) throw err;
    }
  })();
  const stopped = waitForStop();
  await workerReady({ router: router.lastEndpoint as string, pub: pub.lastEndpoint as string });
  await stopped;
  router.close();
  pub.close();
  await loop;
  progress(`relay: ${relayed} messages`);
  const result: RelayResult = { relayed };
  await workerResult(result);
});
