/**
 * gm client for request/reply workloads, the counterpart of bench/baseline/echo-client.ts:
 * `--sockets` DEALERs (one by default) connected to a `gm group` process, each keeping `--window`
 * requests in flight and timing each round trip. The same loop as the echo client (sends and
 * receives alternate in one async loop per socket), only the frames are gm requests:
 *
 *   --mode send      SEND {group, user, id (UUID v7 layout, bench/gm/wire.ts messageId), text (100 bytes)}: a durable send; the
 *                    reply comes after the group server has fsync'd the message
 *   --mode history   HISTORY {group, user, after (random), limit}: one page of history, starting
 *                    at a uniformly random point of the first --history-max messages
 *
 *   --endpoint tcp://127.0.0.1:PORT --group NAME   (required)
 *   --sockets N         DEALERs in this process, each its own connection and user (default 1)
 *   --window W          requests in flight per socket (default 1)
 *   --seconds S         measured phase (default 1)
 *   --warmup-seconds    unmeasured warm-up before it (default 0.2)
 *   --history-max N     highest seq to start a page from (history mode)
 *   --limit L           page size (history mode, default 100)
 *   --server-key K      the group server's public key: CURVE, and key + proof in every request
 *                       (bench/gm/wire.ts); without it the server must run --insecure
 *
 * Before `ready` each socket JOINs the group with a fresh user (a member, as SEND and HISTORY
 * require). Child protocol (bench/lib/worker.ts): ready -> {user}; start <- (the warm-up);
 * warm ->; measure <- (the measured phase); result -> { count, elapsedMs, rate, latenciesUs, checked }.
 */
import { parseArgs } from "node:util";
import { progress } from "../lib/output.js";
import { Samples, summarize } from "../lib/stats.js";
import { nowNs } from "../lib/time.js";
import { runWorker, waitForStart, workerReady, workerResult, workerWarm } from "../lib/worker.js";
import {
  call,
  dealer,
  decodeReply,
  encodeRequestJson,
  messageId,
  newUser,
  padText,
  replyError,
  signed,
} from "./wire.js";

const { values } = parseArgs({
  options: {
    endpoint: { type: "string" },
    group: { type: "string" },
    mode: { type: "string", default: "send" },
    sockets: { type: "string", default: "1" },
    window: { type: "string", default: "1" },
    seconds: { type: "string", default: "1" },
    "warmup-seconds": { type: "string", default: "0.2" },
    "history-max": { type: "string", default: "0" },
    limit: { type: "string", default: "100" },
    "server-key": { type: "string" },
  },
});

export interface SendClientResult {
  count: number;
  elapsedMs: number;
  rate: number;
  latenciesUs: number[];
  /** Replies whose content was checked (history: a full page; send: a seq). */
  checked: number;
}

runWorker(async () => {
  const endpoint = values.endpoint;
  const group = values.group;
  if (endpoint === undefined || group === undefined) throw new Error("--endpoint and --group are required");
  const mode = values.mode;
  if (mode !== "send" && mode !== "history") throw new Error(`--mode must be send or history, not ${mode}`);
  const window = Math.max(1, Number.parseInt(values.window, 10));
  const sockets = Math.max(1, Number.parseInt(values.sockets, 10));
  const seconds = Number.parseFloat(values.seconds);
  const warmupSeconds = Number.parseFloat(values["warmup-seconds"]);
  const historyMax = Number.parseInt(values["history-max"], 10);
  const limit = Number.parseInt(values.limit, 10);
  if (mode === "history" && !(historyMax > limit)) throw new Error("--history-max must be larger than --limit");

  // receiveTimeout bounds the run if the server stops answering.
  const conns = await Promise.all(
    Array.from({ length: sockets }, async () => {
      const me = newUser(mode === "send" ? "sender" : "reader", values["server-key"]);
      const sock = dealer(endpoint, me.security, 10_000);
      await call(sock, me, "JOIN", { group, user: me.user, name: me.name });
      return { me, sock };
    }),
  );
  await workerReady({ user: conns[0]?.me.user });
  await waitForStart();

  const text = padText(`gm bench ${mode} from ${process.pid} `);
  const command = mode === "send" ? "SEND" : "HISTORY";
  let seq = 0;
  let checked = 0;

  /** One socket's loop: `window` requests in flight until `until()` says stop, then drained. */
  const loop = (conn: (typeof conns)[number]) => {
    const { me, sock } = conn;
    const user = me.user;
    // The constant part of each body is encoded once; only the id (or start) is new per request.
    // Same bytes as JSON.stringify({group, user, text, key, proof, id}) would give.
    const sendHead = `${JSON.stringify(signed(me, { group, user, text })).slice(0, -1)},"id":"`;
    const historyHead = `${JSON.stringify(signed(me, { group, user, limit })).slice(0, -1)},"after":`;
    const body = (): string =>
      mode === "send"
        ? `${sendHead}${messageId()}"}`
        : `${historyHead}${Math.floor(Math.random() * (historyMax - limit))}}`;
    const sentAt = new Map<number, bigint>();
    return async (until: () => boolean, record: Samples | undefined): Promise<{ count: number; last: bigint }> => {
      let inFlight = 0;
      let count = 0;
      let last = nowNs();
      const sendOne = async (): Promise<void> => {
        const n = seq++;
        const frames = encodeRequestJson(command, String(n), body());
        sentAt.set(n, nowNs());
        inFlight++;
        await sock.send(frames);
      };
      while (inFlight < window && until()) await sendOne();
      while (inFlight > 0) {
        const frames = await sock.receive();
        const t = nowNs();
        const msg = decodeReply(frames);
        if (msg.type !== "reply") throw new Error(`malformed reply: ${msg.reason}`);
        if (msg.status !== "200") throw replyError(mode, msg.status, msg.body);
        const n = Number(msg.id);
        const t0 = sentAt.get(n);
        if (t0 === undefined) throw new Error(`reply to unknown request "${msg.id}"`);
        sentAt.delete(n);
        if (mode === "history") {
          const page = msg.body as { messages?: unknown[] };
          if (page.messages?.length !== limit)
            throw new Error(`history page of ${page.messages?.length}, not ${limit}`);
        } else if (typeof (msg.body as { seq?: unknown }).seq !== "number") {
          throw new Error("send reply without seq");
        }
        checked++;
        record?.push(Number(t - t0) / 1000);
        inFlight--;
        count++;
        last = t;
        if (until()) await sendOne();
      }
      return { count, last };
    };
  };
  const loops = conns.map(loop);

  /** Every socket's loop at once, until `until()`; the phase ends when the last one has drained. */
  const phase = async (until: () => boolean, record: Samples | undefined) => {
    const start = nowNs();
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
    // Every request of the warm-up is answered: the parent reads the server's counters now.
    await workerWarm();
    const deadline = nowNs() + BigInt(Math.round(seconds * 1e9));
    measured = await phase(() => nowNs() < deadline, latencies);
  } finally {
    for (const { sock } of conns) sock.close();
  }
  const { count, start, last } = measured;
  const elapsedMs = Number(last - start) / 1e6;
  const rate = elapsedMs > 0 ? count / (elapsedMs / 1000) : 0;
  const s = summarize(latencies.values());
  progress(
    `gm ${mode}-client: ${count} round trips in ${elapsedMs.toFixed(0)} ms (${rate.toFixed(0)} msg/s, ${sockets} socket(s), W=${window}), p50 ${s.p50.toFixed(1)} us, p99 ${s.p99.toFixed(1)} us`,
  );
  const result: SendClientResult = { count, elapsedMs, rate, latenciesUs: latencies.toArray(), checked };
  await workerResult(result);
});
