/**
 * Baseline benchmarks: zeromq and better-sqlite3 used directly (no gm code),
 * to compare the gm numbers against. Each function starts the processes it
 * needs, waits until they are ready, runs, collects their results, and kills
 * every process by its handle (also on error or timeout) before returning.
 *
 * Latencies (p50/p99) are in microseconds (`latencyUnit: "us"`).
 */

import { progress } from "../lib/output.js";
import { benchPath } from "../lib/paths.js";
import { cpuBetween } from "../lib/procs.js";
import { MAX_SUBSCRIBER_PROCESSES, subscriberLayout } from "../lib/pubsub-layout.js";
import { summarize } from "../lib/stats.js";
import { sleep } from "../lib/time.js";
import { WorkerGroup } from "../lib/worker.js";
import type { EchoClientResult } from "./echo-client.js";
import type { PublisherResult } from "./pubsub.js";
import type { SubscriberResult } from "./pubsub-sub.js";
import type { RelayResult } from "./relay.js";
import type { SqliteResult } from "./sqlite.js";

export interface BenchResult {
  /** Short name of the measurement, e.g. "echo c=1 w=1". */
  name: string;
  /** The headline number. */
  value: number;
  unit: string;
  p50?: number;
  p99?: number;
  latencyUnit?: "us";
}

export interface EchoOptions {
  /** Client processes, all talking to one ROUTER process. */
  clients: number;
  /** DEALERs in each client process (default 1): the server-bound layout is 1 process with 32. */
  sockets?: number;
  /** Requests in flight per socket; 1 = strict request/reply. */
  window: number;
  seconds: number;
  /** Echo only after writing and fdatasync'ing each batch (echo-server.ts --durable). */
  durable?: boolean;
  /** CURVE on every connection (echo-server.ts --curve, echo-client.ts --server-key). */
  curve?: boolean;
}

export interface EchoResult extends BenchResult {
  unit: "msg/s";
  /** Round trips completed, all clients. */
  count: number;
  clients: number;
  sockets: number;
  window: number;
  processes: number;
  /** CPU used over the measured phase, in cores (1 = one core busy): server, and all clients. */
  cpuCores: { server: number; clients: number };
  /** The echo server's CPU time (user + system) per round trip over the measured phase, us. */
  serverCpuUsPerMessage: number;
}

/** Echo round trips over ROUTER/DEALER; value = total round trips per second. */
export async function echo(opts: EchoOptions): Promise<EchoResult> {
  const { clients, window, seconds } = opts;
  const sockets = opts.sockets ?? 1;
  const group = new WorkerGroup();
  const resultTimeoutMs = (seconds + 30) * 1000;
  return group.run(async () => {
    const server = group.spawn<{ endpoint: string; serverKey?: string }, { echoed: number }>(
      benchPath("baseline/echo-server.ts"),
      [...(opts.durable ? ["--durable"] : []), ...(opts.curve ? ["--curve"] : [])],
      { label: "echo-server", resultTimeoutMs },
    );
    const { endpoint, serverKey } = await server.ready;
    // `=`: a Z85 key may start with '-', which parseArgs would take for an option.
    const key = serverKey === undefined ? [] : [`--server-key=${serverKey}`];
    const workers = Array.from({ length: clients }, (_, i) =>
      group.spawn<{ endpoint: string }, EchoClientResult>(
        benchPath("baseline/echo-client.ts"),
        [
          "--endpoint",
          endpoint,
          "--sockets",
          String(sockets),
          "--window",
          String(window),
          "--seconds",
          String(seconds),
          ...key,
        ],
        { label: `echo-client#${i}`, resultTimeoutMs },
      ),
    );
    await Promise.all(workers.map((w) => w.ready));
    const cpu0 = group.cpuMs();
    const t0 = Date.now();
    for (const w of workers) w.send({ type: "start" });
    const results = await Promise.all(workers.map((w) => w.result));
    const cpu1 = group.cpuMs();
    const wallMs = Date.now() - t0;
    server.send({ type: "stop" });
    await server.result;

    const latencies = results.flatMap((r) => r.latenciesUs);
    const s = summarize(latencies);
    const count = results.reduce((a, r) => a + r.count, 0);
    const serverCpuMs = cpuBetween(cpu0, cpu1, (l) => l === "echo-server");
    return {
      name: `echo c=${clients}${sockets > 1 ? ` s=${sockets}` : ""} w=${window}${opts.durable ? " durable" : ""}${opts.curve ? " curve" : ""}`,
      value: results.reduce((a, r) => a + r.rate, 0),
      unit: "msg/s",
      p50: s.p50,
      p99: s.p99,
      latencyUnit: "us",
      count,
      clients,
      sockets,
      window,
      processes: group.size,
      cpuCores: {
        server: serverCpuMs / wallMs,
        clients: cpuBetween(cpu0, cpu1, (l) => l.startsWith("echo-client")) / wallMs,
      },
      serverCpuUsPerMessage: (serverCpuMs * 1000) / count,
    };
  });
}

export interface PubsubOptions {
  /** Number of SUB sockets (each its own connection). */
  subscribers: number;
  /** Messages per second published. */
  rate: number;
  seconds: number;
  /** Cap on subscriber processes (default MAX_SUBSCRIBER_PROCESSES = 10); see bench/lib/pubsub-layout.ts. */
  maxProcesses?: number;
  /**
   * Send each message through a relay process (bench/baseline/relay.ts) that publishes and
   * acknowledges it: gm's live-delivery layout (sender, server, members) with nothing stored.
   */
  relay?: boolean;
  /** CURVE between the PUB and every SUB (pubsub.ts --curve); not with `relay`. */
  curve?: boolean;
}

export interface PubsubResult extends BenchResult {
  unit: "msg/s";
  subscribers: number;
  /** Subscriber processes used, and SUB sockets in each. */
  layout: number[];
  rate: number;
  /** Rate the publisher actually achieved. */
  publishRate: number;
  sent: number;
  /** sent x subscribers */
  expected: number;
  received: number;
  /** 1 - received/expected */
  loss: number;
  duplicates: number;
  /** Wall time from first spawn until every subscriber was ready, ms. */
  setupMs: number;
  /** CPU used while publishing (warm-up included), in cores: publisher, relay (if any), all subscriber processes. */
  cpuCores: { publisher: number; relay?: number; subscribers: number };
}

/**
 * PUB -> N SUB fan-out at a fixed rate of 100-byte messages.
 * value = messages delivered per second, summed over subscribers;
 * p50/p99 = send-to-receive latency over all (message, subscriber) pairs.
 */
export async function pubsub(opts: PubsubOptions): Promise<PubsubResult> {
  const { subscribers, rate, seconds } = opts;
  const layout = subscriberLayout(subscribers, opts.maxProcesses ?? MAX_SUBSCRIBER_PROCESSES);
  const group = new WorkerGroup();
  // Start-up of many tsx processes on 2 cores is slow: scale the ready timeout.
  const readyTimeoutMs = 20_000 + 1_000 * layout.length;
  const resultTimeoutMs = readyTimeoutMs + (seconds + 30) * 1000;
  const t0 = Date.now();
  return group.run(async () => {
    const relay = opts.relay
      ? group.spawn<{ router: string; pub: string }, RelayResult>(benchPath("baseline/relay.ts"), [], {
          label: "relay",
          readyTimeoutMs,
          resultTimeoutMs,
        })
      : undefined;
    const via = relay === undefined ? undefined : await relay.ready;
    const pub = group.spawn<{ endpoint: string; serverKey?: string }, PublisherResult>(
      benchPath("baseline/pubsub.ts"),
      [
        "--rate",
        String(rate),
        "--seconds",
        String(seconds),
        ...(via === undefined ? [] : ["--via", via.router]),
        ...(opts.curve ? ["--curve"] : []),
      ],
      { label: "pubsub", readyTimeoutMs, resultTimeoutMs },
    );
    const { endpoint: own, serverKey } = await pub.ready;
    const endpoint = via?.pub ?? own;
    // `=`: a Z85 key may start with '-', which parseArgs would take for an option.
    const key = serverKey === undefined ? [] : [`--server-key=${serverKey}`];
    const subs = layout.map((k, i) =>
      group.spawn<{ sockets: number }, SubscriberResult>(
        benchPath("baseline/pubsub-sub.ts"),
        ["--endpoint", endpoint, "--sockets", String(k), ...key],
        { label: `pubsub-sub#${i}`, readyTimeoutMs, resultTimeoutMs },
      ),
    );
    await Promise.all(subs.map((s) => s.ready));
    const setupMs = Date.now() - t0;
    progress(`pubsub: ${subscribers} subscriber(s) in ${layout.length} process(es) ready after ${setupMs} ms`);

    const cpu0 = group.cpuMs();
    const w0 = Date.now();
    pub.send({ type: "start" });
    const p = await pub.result;
    const cpu1 = group.cpuMs();
    const wallMs = Date.now() - w0;
    // Let the tail of the stream drain before closing the subscribers.
    await sleep(300);
    for (const s of subs) s.send({ type: "stop" });
    const results = await Promise.all(subs.map((s) => s.result));
    pub.send({ type: "stop" });
    relay?.send({ type: "stop" });
    await relay?.result;

    const latencies = results.flatMap((r) => r.latenciesUs);
    const received = results.reduce((a, r) => a + r.received, 0);
    const expected = p.sent * subscribers;
    const s = summarize(latencies);
    return {
      name: `pubsub n=${subscribers} r=${rate}${relay === undefined ? "" : " via relay"}${opts.curve ? " curve" : ""}`,
      value: received / (p.elapsedMs / 1000),
      unit: "msg/s",
      p50: s.p50,
      p99: s.p99,
      latencyUnit: "us",
      subscribers,
      layout,
      rate,
      publishRate: p.rate,
      sent: p.sent,
      expected,
      received,
      loss: expected > 0 ? 1 - received / expected : 0,
      duplicates: results.reduce((a, r) => a + r.duplicates, 0),
      setupMs,
      cpuCores: {
        publisher: cpuBetween(cpu0, cpu1, (l) => l === "pubsub") / wallMs,
        ...(relay !== undefined && { relay: cpuBetween(cpu0, cpu1, (l) => l === "relay") / wallMs }),
        subscribers: cpuBetween(cpu0, cpu1, (l) => l.startsWith("pubsub-sub")) / wallMs,
      },
    };
  });
}

export interface SqliteRunResult extends BenchResult {
  unit: "rows/s";
  rows: number;
  commits: number;
  batch: number;
}

async function sqliteRun(mode: "single" | "batch", seconds: number, batch: number): Promise<SqliteRunResult> {
  const group = new WorkerGroup();
  return group.run(async () => {
    const w = group.spawn<{ dir: string }, SqliteResult>(
      benchPath("baseline/sqlite.ts"),
      ["--mode", mode, "--seconds", String(seconds), "--batch", String(batch)],
      { label: `sqlite-${mode}`, resultTimeoutMs: (seconds + 30) * 1000 },
    );
    await w.ready;
    w.send({ type: "start" });
    const r = await w.result;
    const s = summarize(r.commitLatenciesUs);
    return {
      name: mode === "single" ? "sqlite 1 row/commit" : `sqlite ${batch} rows/commit`,
      value: r.rowsPerSec,
      unit: "rows/s",
      p50: s.p50,
      p99: s.p99,
      latencyUnit: "us",
      rows: r.rows,
      commits: r.commits,
      batch: r.batch,
    };
    // Worker stays alive until group.run() kills it (it has already removed its temp dir).
  }, 5000);
}

/** One 100-byte row per commit, WAL + synchronous=FULL. value = rows/s; p50/p99 = commit latency. */
export function sqliteSingle(opts: { seconds: number }): Promise<SqliteRunResult> {
  return sqliteRun("single", opts.seconds, 1);
}

/** `batch` 100-byte rows per commit, WAL + synchronous=FULL. value = rows/s; p50/p99 = latency per commit (whole batch). */
export function sqliteBatch(opts: { seconds: number; batch: number }): Promise<SqliteRunResult> {
  return sqliteRun("batch", opts.seconds, opts.batch);
}
