/**
 * The attacker of test/e2e/zmtp-abort.test.ts, as its own process: the libzmq 4.3.5 assertion it
 * aims at a server (src/net/zmtp-guard.ts) can hit its own sockets too, which is no concern of the
 * test's. Each round, several connections flood a server port faster than it reads them, with ZMTP
 * heartbeats every millisecond (their PINGs wait among the unread bytes), never read what comes back (so
 * closing them resets the TCP connections), and are closed at once; then the round waits for the
 * server's heartbeat, if it sends any, to fall due.
 *
 *   node --import tsx test/helpers/zmtp-abort.ts requests|events ENDPOINT [SERVER_KEY]
 *     requests: a DEALER floods `GM/2 PING` requests at a request port (ROUTER)
 *     events:   an XSUB floods hello subscriptions at an events port (XPUB); each is answered
 *
 * Environment: ROUNDS (3), CONNECTIONS (8), FLOOD_MS (2000), PING_MS (1). Prints `round N` after
 * each round.
 */
import * as zmq from "zeromq";

const [port, endpoint, serverKey] = process.argv.slice(2);
if ((port !== "requests" && port !== "events") || endpoint === undefined) {
  console.error("usage: zmtp-abort.ts requests|events ENDPOINT [SERVER_KEY]");
  process.exit(2);
}
const rounds = Number(process.env.ROUNDS ?? 3);
const connections = Number(process.env.CONNECTIONS ?? 8);
const floodMs = Number(process.env.FLOOD_MS ?? 2000);
const keys = zmq.curveKeyPair();
const common = {
  linger: 0,
  receiveHighWaterMark: 1,
  sendHighWaterMark: 1_000_000,
  heartbeatInterval: Number(process.env.PING_MS ?? 1),
  ...(serverKey !== undefined && {
    curveServerKey: serverKey,
    curvePublicKey: keys.publicKey,
    curveSecretKey: keys.secretKey,
  }),
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (let round = 1; round <= rounds; round++) {
  const sockets = Array.from({ length: connections }, () => {
    const s = port === "requests" ? new zmq.Dealer(common) : new zmq.XSubscriber(common);
    s.connect(endpoint);
    return s;
  });
  const until = Date.now() + floodMs;
  await Promise.all(
    sockets.map(async (s, k) => {
      for (let i = 0; Date.now() < until; i++) {
        await s.send(port === "requests" ? `GM/2 PING ${i}\n{}` : `\x01Hattack${k}/${i}/`);
      }
    }),
  );
  // A request port's answers need a moment to fill what the attacker does not read; an events
  // port's HELLOs have come during the flood, and its reading must still be stopped at the reset.
  if (port === "requests") await sleep(300);
  for (const s of sockets) s.close();
  console.log(`round ${round}`);
  await sleep(1500);
}
