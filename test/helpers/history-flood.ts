/**
 * A member that never reads: `connections` DEALER sockets to a group server, each taking one
 * message in and then letting TCP fill (receive high-water mark 1, never a receive), each sending
 * `HISTORY limit:1000` over and over as fast as the server takes them. Runs in a process of its
 * own, as a real attacker would, so that its send loops do not slow the test's own client. Prints
 * `flooding` once its sockets are made, and on SIGTERM closes them and exits.
 *
 * Usage: history-flood.ts <spec as JSON: {endpoint, connections, serverKey?, publicKey?,
 * secretKey?, body}> (body: the HISTORY request's body, with key and proof on a secure server)
 */
import * as zmq from "zeromq";
import { encodeRequest } from "../../src/protocol/codec.js";
import { GroupCommand } from "../../src/protocol/constants.js";

interface Spec {
  readonly endpoint: string;
  readonly connections: number;
  readonly serverKey?: string;
  readonly publicKey?: string;
  readonly secretKey?: string;
  readonly body: Record<string, unknown>;
}

const spec = JSON.parse(process.argv[2] as string) as Spec;
const sockets = Array.from({ length: spec.connections }, () => {
  const s = new zmq.Dealer({
    linger: 0,
    receiveHighWaterMark: 1,
    ...(spec.serverKey !== undefined && {
      curveServerKey: spec.serverKey,
      curvePublicKey: spec.publicKey,
      curveSecretKey: spec.secretKey,
    }),
  });
  s.connect(spec.endpoint);
  return s;
});
let stopped = false;
process.on("SIGTERM", () => {
  stopped = true;
  for (const s of sockets) s.close();
  process.exit(0);
});
process.stdout.write("flooding\n");
await Promise.all(
  sockets.map(async (s, c) => {
    for (let i = 0; !stopped; i++) {
      try {
        await s.send(encodeRequest(GroupCommand.History, `f${c}-${i}`, spec.body));
      } catch {
        return; // closed
      }
    }
  }),
);
