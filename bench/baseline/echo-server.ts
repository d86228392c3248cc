/**
 * Baseline echo server: a ROUTER bound to tcp://127.0.0.1:* that sends every
 * message it receives straight back to its sender (all frames, unchanged).
 *
 * Child protocol (see bench/lib/measure.ts):
 *   ready  -> { endpoint }   the real endpoint, from `lastEndpoint`
 *   stop   <-                close the socket, which ends the receive loop
 *   result -> { echoed }     number of messages echoed
 *
 * One `for await` receive loop; each echo is awaited before the next receive,
 * so there is never more than one pending send on the socket.
 *
 * Run by hand: node --import tsx bench/baseline/echo-server.ts
 */
import * as zmq from "zeromq";
import { progress, runWorker, waitForStop, workerReady, workerResult } from "../lib/measure.js";

runWorker(async () => {
  const sock = new zmq.Router({ linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0 });
  await sock.bind("tcp://127.0.0.1:*");
  const endpoint = sock.lastEndpoint;
  if (endpoint === null) throw new Error("no endpoint after bind");

  let echoed = 0;
  const loop = (async () => {
    try {
      for await (const frames of sock) {
        await sock.send(frames);
        echoed++;
      }
    } catch (err) {
      // Closing the socket while a send is pending rejects it; that is the normal way out.
      if (!sock.closed) throw err;
    }
  })();

  void waitForStop().then(() => sock.close());
  await workerReady({ endpoint });
  progress(`echo-server: listening on ${endpoint}`);
  await loop;
  await workerResult({ echoed });
});
