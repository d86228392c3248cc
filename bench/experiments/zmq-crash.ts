/**
 * Reproducer of a libzmq 4.3.5 abort (`Assertion failed: !_io_error (stream_engine_base.cpp:310)`)
 * in a server process: a peer fills the server's receive queue (so libzmq stops reading it), has
 * ZMTP heartbeats on (its PINGs wait in the unread input), and resets the connection. When the
 * server later drains the queue, libzmq decodes the waiting PING and answers it on a connection it
 * has marked broken.
 *
 *   node --import tsx bench/experiments/zmq-crash.ts --endpoint tcp://127.0.0.1:PORT [--rounds 5]
 *     [--server-key KEY] [--connections 8] [--requests 200000]
 */
import { parseArgs } from "node:util";
import * as zmq from "zeromq";

const { values } = parseArgs({
  options: {
    endpoint: { type: "string" },
    "server-key": { type: "string" },
    rounds: { type: "string", default: "5" },
    connections: { type: "string", default: "8" },
    requests: { type: "string", default: "200000" },
    heartbeat: { type: "string", default: "50" },
  },
});
const keys = zmq.curveKeyPair();
const secure = values["server-key"] !== undefined;
for (let round = 0; round < Number(values.rounds); round++) {
  const sockets = Array.from({ length: Number(values.connections) }, () => {
    const s = new zmq.Dealer({
      linger: 0,
      receiveHighWaterMark: 1,
      sendHighWaterMark: Number(values.requests) + 10,
      heartbeatInterval: Number(values.heartbeat),
      ...(secure && {
        curveServerKey: values["server-key"],
        curvePublicKey: keys.publicKey,
        curveSecretKey: keys.secretKey,
      }),
    });
    s.connect(values.endpoint as string);
    return s;
  });
  const frame = `GM/2 PING r\n{}`;
  const t0 = Date.now();
  await Promise.all(
    sockets.map(async (s) => {
      for (let i = 0; i < Number(values.requests) && Date.now() - t0 < 3000; i++) await s.send(frame);
    }),
  );
  await new Promise((r) => setTimeout(r, 300));
  for (const s of sockets) s.close();
  console.log(`round ${round}: sent and closed`);
  await new Promise((r) => setTimeout(r, 1500));
}
