/**
 * gm workloads: the same shapes as the baselines in bench/baseline/index.ts (same processes, same
 * sockets, same message size), but against a real `gm group` process (bench/gm/procs.ts) speaking
 * the gm protocol. Each function starts the client processes it needs, waits until they are ready
 * (joined, subscribed), runs, collects their results and kills every client by its handle (also on
 * error or timeout). The group server is started and stopped by the caller.
 *
 * Latencies (p50/p99) are in microseconds.
 */
import { progress } from "../lib/output.js";
import { benchPath } from "../lib/paths.js";
import { cpuBetween } from "../lib/procs.js";
import { MAX_SUBSCRIBER_PROCESSES, subscriberLayout } from "../lib/pubsub-layout.js";
import { summarize } from "../lib/stats.js";
import { sleep } from "../lib/time.js";
import { WorkerGroup } from "../lib/worker.js";
import type { LiveMemberResult } from "./live-member.js";
import type { LiveSenderResult } from "./live-sender.js";
import type { PrefillResult } from "./prefill.js";
import type { GmProcess, SyncCounts } from "./procs.js";
import type { SendClientResult } from "./send-client.js";

export interface GmRequestOptions {
  endpoint: string;
  group: string;
  /** Client processes (as the baseline echo clients). */
  clients: number;
  /** DEALERs in each client process, each its own connection and user (default 1). */
  sockets?: number;
  /** Requests in flight per socket. */
  window: number;
  seconds: number;
  mode?: "send" | "history";
  /** History mode: pages start at a random seq below this. */
  historyMax?: number;
  limit?: number;
  /** The group server, to read its CPU time over the measured phase. */
  server?: GmProcess;
  /** The group server's public key (CURVE); undefined for an insecure server. */
  serverKey?: string | undefined;
}

export interface GmRequestResult {
  name: string;
  /** Replies per second, all clients. */
  value: number;
  unit: "msg/s";
  p50: number;
  p99: number;
  count: number;
  processes: number;
  /**
   * CPU time (user + system) of the group server process over the measured phase, per request
   * answered in it, us (NaN without `server`).
   */
  serverCpuUsPerRequest: number;
  /**
   * What the server's store syncs did over the measured phase, and the writes per log sync
   * (undefined when the server does not report them: see GmProcess.syncCounts).
   */
  sync: (SyncCounts & { writesPerSync: number }) | undefined;
  /** CPU used over the measured phase, in cores: group server, all clients. */
  cpuCores: { server: number; clients: number };
}

/**
 * The clients' `--server-key` (bench/gm/wire.ts): CURVE towards that group server. Given as
 * `--server-key=K`: a Z85 key may start with '-', which parseArgs would take for an option.
 */
const keyArgs = (serverKey: string | undefined): string[] =>
  serverKey === undefined ? [] : [`--server-key=${serverKey}`];

/** SEND (durable) or HISTORY round trips from `clients` processes; value = replies per second. */
export async function gmRequests(opts: GmRequestOptions): Promise<GmRequestResult> {
  const { clients, window, seconds } = opts;
  const sockets = opts.sockets ?? 1;
  const mode = opts.mode ?? "send";
  const group = new WorkerGroup();
  const readyTimeoutMs = 20_000 + 1_000 * clients + 200 * sockets;
  const resultTimeoutMs = readyTimeoutMs + (seconds + 30) * 1000;
  return group.run(async () => {
    const args = [
      "--endpoint",
      opts.endpoint,
      "--group",
      opts.group,
      "--mode",
      mode,
      "--sockets",
      String(sockets),
      "--window",
      String(window),
      "--seconds",
      String(seconds),
      "--history-max",
      String(opts.historyMax ?? 0),
      "--limit",
      String(opts.limit ?? 100),
      ...keyArgs(opts.serverKey),
    ];
    const workers = Array.from({ length: clients }, (_, i) =>
      group.spawn<{ user: string }, SendClientResult>(benchPath("gm/send-client.ts"), args, {
        label: `gm-${mode}-client#${i}`,
        readyTimeoutMs,
        resultTimeoutMs,
      }),
    );
    await Promise.all(workers.map((w) => w.ready));
    for (const w of workers) w.send({ type: "start" });
    // Every client has warmed up and has nothing in flight: the measured phase starts now.
    await Promise.all(workers.map((w) => w.warm));
    const sync0 = await opts.server?.syncCounts();
    const cpu0 = opts.server?.cpuMs() ?? Number.NaN;
    const clients0 = group.cpuMs();
    const t0 = Date.now();
    for (const w of workers) w.send({ type: "measure" });
    const results = await Promise.all(workers.map((w) => w.result));
    const cpu1 = opts.server?.cpuMs() ?? Number.NaN;
    const clients1 = group.cpuMs();
    const wallMs = Date.now() - t0;
    const sync1 = await opts.server?.syncCounts();
    const sync =
      sync0 === undefined || sync1 === undefined
        ? undefined
        : (() => {
            const d = {
              writes: sync1.writes - sync0.writes,
              syncs: sync1.syncs - sync0.syncs,
              markSyncs: sync1.markSyncs - sync0.markSyncs,
            };
            return { ...d, writesPerSync: d.writes / d.syncs };
          })();
    const s = summarize(results.flatMap((r) => r.latenciesUs));
    const count = results.reduce((a, r) => a + r.count, 0);
    return {
      name: `gm ${mode} c=${clients}${sockets > 1 ? ` s=${sockets}` : ""} w=${window}`,
      value: results.reduce((a, r) => a + r.rate, 0),
      unit: "msg/s",
      p50: s.p50,
      p99: s.p99,
      count,
      processes: group.size,
      serverCpuUsPerRequest: ((cpu1 - cpu0) * 1000) / count,
      sync,
      cpuCores: { server: (cpu1 - cpu0) / wallMs, clients: cpuBetween(clients0, clients1, () => true) / wallMs },
    };
  });
}

export interface GmLiveOptions {
  endpoint: string;
  group: string;
  /** Members that SUBSCRIBEd, each its own DEALER (laid out over processes as the baseline pubsub). */
  members: number;
  rate: number;
  seconds: number;
  server?: GmProcess;
  /** The group server's public key (CURVE); undefined for an insecure server. */
  serverKey?: string | undefined;
}

export interface GmLiveResult {
  name: string;
  /** Messages delivered per second, summed over members. */
  value: number;
  unit: "msg/s";
  p50: number;
  p99: number;
  layout: number[];
  sent: number;
  acked: number;
  publishRate: number;
  expected: number;
  received: number;
  loss: number;
  duplicates: number;
  gaps: number;
  ackP50: number;
  ackP99: number;
  setupMs: number;
  /** CPU used while sending (warm-up included), in cores: group server, sender, all member processes. */
  cpuCores: { server: number; sender: number; members: number };
}

/** One member sends at `rate`; `members` subscribed members receive; p50/p99 = send-to-receive. */
export async function gmLive(opts: GmLiveOptions): Promise<GmLiveResult> {
  const { members, rate, seconds } = opts;
  const layout = subscriberLayout(members, MAX_SUBSCRIBER_PROCESSES);
  const group = new WorkerGroup();
  const readyTimeoutMs = 20_000 + 1_000 * layout.length;
  const resultTimeoutMs = readyTimeoutMs + (seconds + 30) * 1000;
  const t0 = Date.now();
  const common = ["--endpoint", opts.endpoint, "--group", opts.group, ...keyArgs(opts.serverKey)];
  return group.run(async () => {
    const sender = group.spawn<{ user: string }, LiveSenderResult>(
      benchPath("gm/live-sender.ts"),
      [...common, "--rate", String(rate), "--seconds", String(seconds)],
      { label: "gm-live-sender", readyTimeoutMs, resultTimeoutMs },
    );
    const subs = layout.map((k, i) =>
      group.spawn<{ sockets: number }, LiveMemberResult>(
        benchPath("gm/live-member.ts"),
        [...common, "--sockets", String(k)],
        { label: `gm-live-member#${i}`, readyTimeoutMs, resultTimeoutMs },
      ),
    );
    await Promise.all([sender.ready, ...subs.map((s) => s.ready)]);
    const setupMs = Date.now() - t0;
    progress(`gm live: ${members} member(s) in ${layout.length} process(es) subscribed after ${setupMs} ms`);
    const cpu0 = opts.server?.cpuMs() ?? Number.NaN;
    const clients0 = group.cpuMs();
    const w0 = Date.now();
    sender.send({ type: "start" });
    const p = await sender.result;
    const cpu1 = opts.server?.cpuMs() ?? Number.NaN;
    const clients1 = group.cpuMs();
    const wallMs = Date.now() - w0;
    await sleep(300);
    for (const s of subs) s.send({ type: "stop" });
    const results = await Promise.all(subs.map((s) => s.result));
    sender.send({ type: "stop" });
    const s = summarize(results.flatMap((r) => r.latenciesUs));
    const ack = summarize(p.ackLatenciesUs);
    const received = results.reduce((a, r) => a + r.received, 0);
    const expected = p.sent * members;
    return {
      name: `gm live n=${members} r=${rate}`,
      value: received / (p.elapsedMs / 1000),
      unit: "msg/s",
      p50: s.p50,
      p99: s.p99,
      layout,
      sent: p.sent,
      acked: p.acked,
      publishRate: p.rate,
      expected,
      received,
      loss: expected > 0 ? 1 - received / expected : 0,
      duplicates: results.reduce((a, r) => a + r.duplicates, 0),
      gaps: results.reduce((a, r) => a + r.gaps, 0),
      ackP50: ack.p50,
      ackP99: ack.p99,
      setupMs,
      cpuCores: {
        server: (cpu1 - cpu0) / wallMs,
        sender: cpuBetween(clients0, clients1, (l) => l === "gm-live-sender") / wallMs,
        members: cpuBetween(clients0, clients1, (l) => l.startsWith("gm-live-member")) / wallMs,
      },
    };
  });
}

/** Bulk-fills an existing (created by gm, not served right now) group file; see bench/gm/prefill.ts. */
export async function prefill(opts: {
  db: string;
  group: string;
  messages: number;
  members: number;
}): Promise<PrefillResult> {
  const group = new WorkerGroup();
  return group.run(async () => {
    const w = group.spawn<unknown, PrefillResult>(
      benchPath("gm/prefill.ts"),
      ["--db", opts.db, "--group", opts.group, "--messages", String(opts.messages), "--members", String(opts.members)],
      { label: "prefill", resultTimeoutMs: 600_000 },
    );
    await w.ready;
    w.send({ type: "start" });
    return w.result;
  }, 5000);
}
