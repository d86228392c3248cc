/**
 * gm live delivery, the sending side (the counterpart of bench/baseline/pubsub.ts): one member
 * that SENDs 100-byte messages to the group at a fixed rate, open loop (it does not wait for an
 * acknowledgement before the next send, as a PUB socket does not). Each text carries the send
 * time, `performance.timeOrigin + performance.now()` (ms), so members in other processes can
 * compute send-to-receive latency:
 *
 *   "<kind>|<n>|<send time ms>|" padded with '.' to 100 bytes; kind W = warm-up, D = measured
 *
 *   --endpoint tcp://127.0.0.1:PORT --group NAME   (required)
 *   --rate R              messages per second (default 1000)
 *   --seconds S           measured phase (default 1)
 *   --warmup-seconds W    unmeasured phase at the full rate before it (default 0.5)
 *   --server-key K        the group server's public key: CURVE, key + proof (bench/gm/wire.ts)
 *
 * Child protocol (bench/lib/worker.ts): ready -> {user} after JOIN; start <-; result ->
 * { sent, acked, elapsedMs, rate, ackLatenciesUs } once every send is acknowledged (durable);
 * stop <- closes the socket.
 */
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { progress } from "../lib/output.js";
import { Samples, summarize } from "../lib/stats.js";
import { sleep, wallMs } from "../lib/time.js";
import { runWorker, waitForStart, waitForStop, workerReady, workerResult } from "../lib/worker.js";
import { Conn, messageId, newUser, padText } from "./wire.js";

const { values } = parseArgs({
  options: {
    endpoint: { type: "string" },
    group: { type: "string" },
    rate: { type: "string", default: "1000" },
    seconds: { type: "string", default: "1" },
    "warmup-seconds": { type: "string", default: "0.5" },
    "server-key": { type: "string" },
  },
});

export interface LiveSenderResult {
  sent: number;
  acked: number;
  elapsedMs: number;
  rate: number;
  /** Send-to-acknowledgement (durable) latency of the measured sends, us. */
  ackLatenciesUs: number[];
}

runWorker(async () => {
  const endpoint = values.endpoint;
  const group = values.group;
  if (endpoint === undefined || group === undefined) throw new Error("--endpoint and --group are required");
  const rate = Number.parseFloat(values.rate);
  const seconds = Number.parseFloat(values.seconds);
  const warmupSeconds = Number.parseFloat(values["warmup-seconds"]);

  const me = newUser("live-sender", values["server-key"]);
  const { user, name } = me;
  const conn = new Conn(endpoint, me);
  await conn.request("JOIN", { group, user, name });
  const stopped = waitForStop();
  await workerReady({ user });
  await Promise.race([waitForStart(), stopped]);

  let aborted = false;
  void stopped.then(() => {
    aborted = true;
  });
  const intervalMs = 1000 / rate;
  const ackLatencies = new Samples(1 << 14);
  let acked = 0;
  let failed: Error | undefined;

  const paced = async (kind: "W" | "D", total: number): Promise<[number, number]> => {
    const t0 = performance.now();
    let sent = 0;
    while (sent < total && !aborted && failed === undefined) {
      const due = t0 + sent * intervalMs;
      const now = performance.now();
      if (now < due) {
        await sleep(due - now);
        continue;
      }
      const sentMs = wallMs();
      const text = padText(`${kind}|${sent}|${sentMs}|`);
      await conn.post("SEND", { group, user, id: messageId(), text }, (r) => {
        if (r !== "ok") failed = r;
        else if (kind === "D") {
          acked++;
          ackLatencies.push(Math.round((wallMs() - sentMs) * 10_000) / 10);
        }
      });
      sent++;
    }
    const left = t0 + sent * intervalMs - performance.now();
    if (left > 0 && !aborted) await sleep(left);
    return [sent, performance.now() - t0];
  };

  if (warmupSeconds > 0) await paced("W", Math.round(rate * warmupSeconds));
  const [sent, elapsedMs] = await paced("D", Math.max(1, Math.round(rate * seconds)));
  // Wait for the acknowledgements of the tail (each is durable before it comes).
  const until = Date.now() + 10_000;
  while (conn.inFlight > 0 && Date.now() < until && failed === undefined) await sleep(5);
  if (failed !== undefined) throw failed;
  const result: LiveSenderResult = {
    sent,
    acked,
    elapsedMs,
    rate: sent / (elapsedMs / 1000),
    ackLatenciesUs: ackLatencies.toArray(),
  };
  const s = summarize(ackLatencies.values());
  progress(
    `gm live-sender: sent ${sent} in ${elapsedMs.toFixed(0)} ms (${result.rate.toFixed(0)} msg/s), ${acked} acked, ack p50 ${s.p50.toFixed(0)} us p99 ${s.p99.toFixed(0)} us`,
  );
  await workerResult(result);
  await stopped;
  await conn.close();
});
