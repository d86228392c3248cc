/**
 * `npm run bench`: gm against the raw speed of ZeroMQ and SQLite on the same machine, in the same
 * run. Every gm workload is run right after the baseline it is compared with (bench/baseline), with
 * the same process layout and 100-byte messages, against real `gm server` / `gm group` processes
 * (bin/run.js, the built dist/). Prints one table on stdout (progress goes to stderr) and writes the
 * same rows, with the machine, to bench/results/<date>.json.
 *
 * The rows, their baselines and their targets are the table WORKLOADS below; the rest of this file
 * is how a row is run, checked against its target and reported.
 *
 *   npm run bench                       full run (a few minutes on 2 cores)
 *   npm run bench -- --quick            ~1 s per workload, 100,000 instead of 1,000,000 stored
 *                                       messages (for CI: checks that everything runs and reports)
 *   npm run bench -- --only send32,live run some workloads (keys below; baselines they need too)
 *   npm run bench -- --cpu-prof         write a V8 CPU profile of every gm group process to
 *                                       bench/results/<run>-<workload>.cpuprofile; summarize with
 *                                       bench/tools/cpuprofile-top.ts or open in Chrome DevTools
 *   npm run bench -- --out FILE         write the JSON there instead
 *   npm run bench -- --strict           exit 1 when a target is missed (default: only on errors)
 *   npm run bench -- --group-node-args="--max-semi-space-size=1"   (with =: the value starts with a dash)
 *                                       extra node options for every gm group process (experiments)
 *   npm run bench -- --live-rate 200    live delivery at another rate than the target's 1,000 msg/s
 *   npm run bench -- --rounds 5         baseline/gm pairs per send and live workload (default 3, --quick 1);
 *                                       the row is the round with the median ratio
 *   npm run bench -- --group-nice=-10   experiment: run gm group servers at that nice value (root for < 0)
 *   npm run bench -- --group-script FILE
 *                                       run that instead of `bin/run.js group` (experiments, such as
 *                                       bench/experiments/protocol-floor.ts)
 *
 * Workload keys: send32 window latency live history ingest memory disk oneshot help.
 * See docs/PERFORMANCE.md for what each one does and what the numbers mean.
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import * as zmq from "zeromq";
import { type EchoResult, echo, pubsub, sqliteSingle } from "./baseline/index.js";
import { gmLive, gmRequests, prefill } from "./gm/index.js";
import {
  BIN,
  diskUsage,
  type GmProcess,
  liveTempDirs,
  makeTempDir,
  removeTempDir,
  startDirectory,
  startGroup,
  timedRun,
} from "./gm/procs.js";
import { fmt, progress, table } from "./lib/output.js";
import { PROJECT_ROOT } from "./lib/paths.js";
import { killAllWorkers, liveWorkerCount } from "./lib/procs.js";
import { summarize } from "./lib/stats.js";
import { sleep } from "./lib/time.js";

/** Workload keys, in the order of the printed table and of the JSON's results. */
const KEYS = ["send32", "window", "latency", "live", "history", "ingest", "memory", "disk", "oneshot", "help"] as const;
type Key = (typeof KEYS)[number];

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    "cpu-prof": { type: "boolean", default: false },
    out: { type: "string" },
    strict: { type: "boolean", default: false },
    "group-node-args": { type: "string" },
    "group-script": { type: "string" },
    "live-rate": { type: "string", default: "1000" },
    rounds: { type: "string" },
    "group-nice": { type: "string" },
  },
});

const quick = values.quick;
const only = new Set<string>(values.only?.split(",").map((s) => s.trim()) ?? KEYS);
for (const k of only) if (!(KEYS as readonly string[]).includes(k)) throw new Error(`unknown workload "${k}"`);
const want = (k: Key): boolean => only.has(k);

/** Seconds of each throughput/latency measurement, and of the live-delivery stream. */
const SECONDS = quick ? 1 : 3;
const LIVE_SECONDS = quick ? 1 : 5;
/** Messages per second of the live-delivery workload (the target is set at 1,000). */
const LIVE_RATE = Number.parseInt(values["live-rate"], 10);
const SMALL = 10_000;
const BIG = quick ? 100_000 : 1_000_000;
const MEMBERS = 1_000;
const ONESHOT_RUNS = quick ? 5 : 15;
const MB = 1_000_000;
/**
 * Baseline/gm pairs run this many times, alternating, for the send and live workloads; the row
 * reports the round with the median ratio (all rounds are in the JSON). On a small VM one run of
 * either side can be off by 20-30 %; the median of alternating pairs is what repeats.
 */
const ROUNDS = values.rounds !== undefined ? Math.max(1, Number.parseInt(values.rounds, 10)) : quick ? 1 : 3;
const count = (n: number): string => n.toLocaleString("en-US");
const SIZE = count(BIG);
/** Rows measured on the stored groups say so when --quick made them smaller. */
const REDUCED = quick ? `quick: ${SIZE} messages, not 1,000,000` : undefined;

const started = new Date();
const runId = started.toISOString().slice(0, 19).replace(/:/g, "-");
/** CPU profiles go next to the results, as <run>-<workload>.cpuprofile (git-ignored). */
const profileDir = path.join(PROJECT_ROOT, "bench", "results");

// ---------------------------------------------------------------------------
// The table of workloads
// ---------------------------------------------------------------------------

/** What a row must reach; the printed target is made from it. */
type Target =
  /** value / baseline at least `ratio` (throughput). */
  | { kind: "min-ratio"; ratio: number }
  /** value / baseline at most `ratio` (latency, time); and, with `maxLoss`, at most that share lost. */
  | { kind: "max-ratio"; ratio: number; maxLoss?: number }
  /** value at most `value`, in the row's unit. */
  | { kind: "max-value"; value: number }
  /** No target: the number is reported. */
  | { kind: "reported" };

/** What a workload's run measured. */
interface Measured {
  value: number;
  /** The same measurement without gm (null when the target is absolute). */
  baseline: number | null;
  /** The share of messages lost, for a target with `maxLoss`. */
  loss?: number;
  details?: Record<string, unknown>;
}

interface Workload {
  key: Key;
  /** The row's name in the table. */
  label: string;
  unit: string;
  /** What the baseline is ("" when there is none). */
  baselineOf: string;
  target: Target;
  /** Measured on the stored groups, which --quick makes smaller. */
  stored?: true;
  run: () => Promise<Measured>;
}

/**
 * One entry per row, in the order they run (the printed table sorts them by KEYS). Rows that share
 * a measurement (the one-shot commands, the rows of the large group's server) take it from one
 * run made for the first of them; see the measurements below the table.
 */
const WORKLOADS: Workload[] = [
  {
    key: "send32",
    label: "durable send, 32 clients, 1 outstanding each",
    unit: "msg/s",
    baselineOf: "raw ROUTER/DEALER echo, 32 client processes, 1 outstanding each",
    target: { kind: "min-ratio", ratio: 0.6 },
    run: () => sendThroughput("send32", { clients: 32, window: 1 }),
  },
  {
    key: "window",
    label: "durable send, 1 client, window of 100",
    unit: "msg/s",
    baselineOf: "raw pipelined echo, 1 client, 100 in flight",
    target: { kind: "min-ratio", ratio: 0.5 },
    run: () => sendThroughput("window", { clients: 1, window: 100 }),
  },
  {
    key: "latency",
    label: "durable send, 1 client, one at a time: p50",
    unit: "us",
    baselineOf: "raw echo p50 (1 client) + raw SQLite one-row fsync'd commit p50",
    target: { kind: "max-ratio", ratio: 1.5 },
    run: () => sendLatency(),
  },
  {
    key: "live",
    label: `live delivery to 100 members, ${count(LIVE_RATE)} msg/s: p99`,
    unit: "us",
    baselineOf: "raw PUB/SUB p99, 100 subscribers (10 processes x 10 sockets)",
    target: { kind: "max-ratio", ratio: 2, maxLoss: 0.001 },
    run: () => live(),
  },
  {
    key: "oneshot",
    label: "`gm user send` one-shot, whole process: p50",
    unit: "ms",
    baselineOf: "`node -e 0` p50",
    target: { kind: "max-ratio", ratio: 3 },
    run: async () => cliRow((await cliRuns()).send),
  },
  {
    key: "help",
    label: "`gm --help`: p50",
    unit: "ms",
    baselineOf: "`node -e 0` p50",
    target: { kind: "max-ratio", ratio: 2 },
    run: async () => cliRow((await cliRuns()).help),
  },
  {
    key: "disk",
    label: `disk: ${SIZE} messages of 100 bytes`,
    unit: "bytes",
    baselineOf: "the message texts alone (messages x 100 bytes)",
    target: { kind: "reported" },
    stored: true,
    run: () => disk(),
  },
  {
    key: "history",
    label: `history page of 100 from ${SIZE} (random start): p50`,
    unit: "us",
    baselineOf: "raw echo p50, 1 client",
    target: { kind: "max-ratio", ratio: 5 },
    stored: true,
    run: async () => {
      const { h, e } = settled((await bigGroupSession()).history);
      return { value: h.p50, baseline: e.p50 ?? Number.NaN, details: { ...historyDetails(h, e), gmP99: h.p99 } };
    },
  },
  {
    key: "history",
    label: `history page of 100 from ${SIZE} (random start): p99`,
    unit: "us",
    baselineOf: "raw echo p99, 1 client",
    target: { kind: "max-ratio", ratio: 10 },
    stored: true,
    run: async () => {
      const { h, e } = settled((await bigGroupSession()).history);
      return { value: h.p99, baseline: e.p99 ?? Number.NaN, details: { ...historyDetails(h, e), gmP50: h.p50 } };
    },
  },
  {
    key: "ingest",
    label: `ingest scale: send rate at ${SIZE} stored messages`,
    unit: "msg/s",
    baselineOf: `the same (1 client, window 100) at ${count(SMALL)} stored messages`,
    target: { kind: "min-ratio", ratio: 0.8 },
    stored: true,
    run: async () => settled((await bigGroupSession()).ingest),
  },
  {
    key: "memory",
    label: `memory: group server, ${SIZE} messages, ${count(MEMBERS)} members (peak RSS)`,
    unit: "MB",
    baselineOf: "",
    target: { kind: "max-value", value: 100 },
    stored: true,
    run: async () => settled((await bigGroupSession()).memory),
  },
];

// ---------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------

/** A row of the result JSON (bench/results/*.json). */
export interface Row {
  /** Workload, as in the issue's table. */
  workload: string;
  key: Key;
  value: number;
  unit: string;
  /** The same measurement without gm (null when the target is absolute). */
  baseline: number | null;
  /** What the baseline is. */
  baselineOf: string;
  /** The run used smaller sizes than the target (--quick). */
  reduced?: string;
  details?: Record<string, unknown>;
  /** value / baseline. */
  ratio: number | null;
  /** Human-readable target, e.g. "ratio >= 0.60". */
  target: string;
  pass: boolean;
  /** Why the row fails besides its ratio (e.g. lost messages). */
  failReason?: string;
  error?: string;
}

const rows: Row[] = [];
let errors = 0;

function targetText(t: Target, unit: string): string {
  switch (t.kind) {
    case "min-ratio":
      return `ratio >= ${t.ratio.toFixed(2)}`;
    case "max-ratio":
      return `ratio <= ${t.ratio.toFixed(2)}` + (t.maxLoss !== undefined ? `, loss <= ${t.maxLoss * 100}%` : "");
    case "max-value":
      return `<= ${fmt(t.value)} ${unit}`;
    case "reported":
      return "reported";
  }
}

/** Checks a measurement against its row's target and records the row. */
function record(w: Workload, m: Measured): void {
  const ratio = m.baseline === null ? null : m.value / m.baseline;
  const t = w.target;
  let pass: boolean;
  switch (t.kind) {
    case "min-ratio":
      pass = ratio !== null && ratio >= t.ratio;
      break;
    case "max-ratio":
      pass = ratio !== null && ratio <= t.ratio;
      break;
    case "max-value":
      pass = m.value <= t.value;
      break;
    case "reported":
      pass = true;
  }
  // Delivery that loses messages does not pass, whatever its latency.
  const loss = m.loss ?? Number.NaN;
  const failReason =
    t.kind === "max-ratio" && t.maxLoss !== undefined && !(loss <= t.maxLoss)
      ? `lost ${(loss * 100).toFixed(2)}% of the messages`
      : undefined;
  const row: Row = {
    workload: w.label,
    key: w.key,
    value: m.value,
    unit: w.unit,
    baseline: m.baseline,
    baselineOf: w.baselineOf,
    ...(w.stored && REDUCED !== undefined && { reduced: REDUCED }),
    ...(m.details !== undefined && { details: m.details }),
    ratio,
    target: targetText(t, w.unit),
    pass: Number.isFinite(m.value) && pass && failReason === undefined,
    ...(failReason !== undefined && { failReason }),
  };
  rows.push(row);
  progress(
    `=> ${row.workload}: ${fmt(row.value)} ${row.unit}` +
      (row.baseline === null ? "" : ` vs ${fmt(row.baseline)} (ratio ${fmt(row.ratio ?? Number.NaN)})`) +
      ` [${row.target}] ${row.pass ? "PASS" : "FAIL"}`,
  );
}

/** A row whose run failed: the error is reported and the run goes on. */
function recordError(w: Workload, err: unknown): void {
  errors++;
  const message = err instanceof Error ? err.message : String(err);
  progress(`${w.label} FAILED: ${message}`);
  rows.push({
    workload: w.label,
    key: w.key,
    value: Number.NaN,
    unit: w.unit,
    baseline: null,
    baselineOf: "",
    ratio: null,
    target: "",
    pass: false,
    error: message,
  });
}

// ---------------------------------------------------------------------------
// The machine
// ---------------------------------------------------------------------------

function machine(): Record<string, unknown> {
  const require = createRequire(import.meta.url);
  const pkg = (name: string): string => {
    try {
      return (require(`${name}/package.json`) as { version: string }).version;
    } catch {
      return "?";
    }
  };
  const mem = new Database(":memory:");
  const sqlite = (mem.prepare("SELECT sqlite_version() AS v").get() as { v: string }).v;
  mem.close();
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? "?",
    cores: cpus.length,
    memoryGB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    zeromq: pkg("zeromq"),
    libzmq: zmq.version,
    betterSqlite3: pkg("better-sqlite3"),
    sqlite,
    tmpdir: os.tmpdir(),
    loadavgAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

// ---------------------------------------------------------------------------
// gm processes for one workload
// ---------------------------------------------------------------------------

/** Entries named gm-bench-* in the temp directory: the bench's and its workers' temporary dirs. */
const benchTempEntries = (): string[] => fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith("gm-bench-"));
// Taken before this run makes any, so a directory a worker fails to remove shows up as a leak.
const tempBefore = new Set(benchTempEntries());
const root = makeTempDir("gm-bench-");
const env: NodeJS.ProcessEnv = { GM_HOME: path.join(root, "home") };
let directory: GmProcess | undefined;

function nodeArgs(label: string): string[] {
  const extra = values["group-node-args"]?.split(" ").filter((a) => a !== "") ?? [];
  if (!values["cpu-prof"]) return extra;
  fs.mkdirSync(profileDir, { recursive: true });
  return [...extra, "--cpu-prof", `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${runId}-${label}.cpuprofile`];
}

/**
 * Starts a `gm group` on `dataDir`, runs `fn`, and stops the group server whatever happens. The
 * group is named after the data directory (send32, window, ..., small, big): one name per store,
 * so a server started right after another one never collides with the other's registration.
 */
async function withGroup<T>(
  label: string,
  dataDir: string,
  fn: (g: GmProcess, group: string) => Promise<T>,
): Promise<T> {
  if (directory === undefined) throw new Error("no directory");
  const group = path.basename(dataDir);
  let g: GmProcess | undefined;
  for (let attempt = 1; g === undefined; attempt++) {
    try {
      g = await startGroup(group, dataDir, directory.endpoint, {
        env,
        nodeArgs: nodeArgs(label),
        ...(values["group-script"] !== undefined && { script: path.resolve(values["group-script"]) }),
      });
    } catch (err) {
      // The previous server of this group is still registered (its UNREGISTER on the way out can
      // time out on a busy machine): the directory drops it within 5 s.
      if (attempt >= 8 || !/already registered/.test(String(err))) throw err;
      progress(`gm group ${group}: still registered by the previous server; retrying in 1 s`);
      await sleep(1000);
    }
  }
  if (values["group-nice"] !== undefined) renice(g.pid, Number.parseInt(values["group-nice"], 10));
  try {
    return await fn(g, group);
  } finally {
    await g.stop(10_000);
  }
}

/**
 * Experiment (--group-nice N): gives every thread of a group server the nice value N (negative
 * values need root), to see how much of a result is CPU contention with the bench's own clients.
 */
function renice(pid: number, nice: number): void {
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) os.setPriority(Number(tid), nice);
  progress(`gm group (pid ${pid}): every thread at nice ${nice}`);
}

function freshDataDir(label: string): string {
  const d = path.join(root, label);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

/** Runs `fn` once, on first use, and hands every caller the same promise. */
function lazy<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    if (p === undefined) {
      p = fn();
      p.catch(() => {}); // each caller sees the rejection; none is left unhandled
    }
    return p;
  };
}

/** One part of a shared measurement: its result, or why it failed (the other parts go on). */
type Part<T> = { ok: true; value: T } | { ok: false; error: unknown };
async function part<T>(fn: () => Promise<T>): Promise<Part<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (error) {
    return { ok: false, error };
  }
}
function settled<T>(p: Part<T> | undefined): T {
  if (p === undefined) throw new Error("not measured");
  if (!p.ok) throw p.error;
  return p.value;
}

/** Raw echo, 1 client, 1 outstanding: measured once per run, on first use. */
const echo1 = lazy((): Promise<EchoResult> => {
  progress("baseline: echo c=1 w=1");
  return echo({ clients: 1, window: 1, seconds: SECONDS });
});

interface Round<B, G> {
  base: B;
  gm: G;
  value: number;
  baseline: number;
  ratio: number;
}

/**
 * Runs `baseline` then `gm` ROUNDS times and returns the round with the median ratio, with every
 * round's value, baseline and ratio for the JSON. Each gm round gets a fresh group and data dir.
 */
async function rounds<B, G>(
  label: string,
  baseline: () => Promise<B>,
  gm: (dataDir: string) => Promise<G>,
  measure: (base: B, gm: G) => { value: number; baseline: number },
): Promise<
  Round<B, G> & { rounds: Array<{ value: number; baseline: number; ratio: number }>; all: Array<Round<B, G>> }
> {
  const all: Array<Round<B, G>> = [];
  for (let i = 1; i <= ROUNDS; i++) {
    if (ROUNDS > 1) progress(`${label}: round ${i} of ${ROUNDS}`);
    const base = await baseline();
    const g = await gm(freshDataDir(ROUNDS > 1 ? `${label}-r${i}` : label));
    const m = measure(base, g);
    all.push({ base, gm: g, ...m, ratio: m.value / m.baseline });
  }
  const sorted = [...all].sort((a, b) => a.ratio - b.ratio);
  const median = sorted[Math.floor((sorted.length - 1) / 2)] as Round<B, G>;
  return { ...median, rounds: all.map(({ value, baseline, ratio }) => ({ value, baseline, ratio })), all };
}

// ---------------------------------------------------------------------------
// The measurements
// ---------------------------------------------------------------------------

/** A durable-send throughput workload against echo with the same clients and window. */
async function sendThroughput(
  key: "send32" | "window",
  layout: { clients: number; window: number },
): Promise<Measured> {
  const r = await rounds(
    key,
    () => echo({ ...layout, seconds: SECONDS }),
    (dir) =>
      withGroup(key, dir, (server, group) =>
        gmRequests({ endpoint: server.endpoint, group, ...layout, seconds: SECONDS, server }),
      ),
    (b, g) => ({ value: g.value, baseline: b.value }),
  );
  const { base, gm } = r;
  const floor = await durableEchoFloor(key, layout);
  return {
    value: gm.value,
    baseline: base.value,
    details: {
      rounds: r.rounds,
      processes: { gm: gm.processes, baseline: base.processes },
      gmLatencyUs: { p50: gm.p50, p99: gm.p99 },
      baselineLatencyUs: { p50: base.p50, p99: base.p99 },
      serverCpuUsPerMessage: gm.serverCpuUsPerRequest,
      cpuCores: { gm: gm.cpuCores, baseline: base.cpuCores },
      durableEchoFloor: {
        value: floor.value,
        ratio: floor.value / base.value,
        p50: floor.p50,
        cpuCores: floor.cpuCores,
      },
    },
  };
}

/**
 * Not a target: the smallest durable echo (echo-server.ts --durable: group commit, one write and
 * one fdatasync per batch, on the event loop) with the same clients, measured once per run. A
 * reference for gm's row: what a server that syncs before it answers, and does nothing else, gets
 * on this machine.
 */
async function durableEchoFloor(key: string, layout: { clients: number; window: number }): Promise<EchoResult> {
  progress(`${key}: durable echo (write + fdatasync per batch, no gm code)`);
  return echo({ ...layout, seconds: SECONDS, durable: true });
}

/** One client, one SEND at a time: p50 against echo p50 plus a one-row SQLite commit p50. */
async function sendLatency(): Promise<Measured> {
  const r = await rounds(
    "latency",
    async () => ({
      e: await echo({ clients: 1, window: 1, seconds: SECONDS }),
      s: await sqliteSingle({ seconds: SECONDS }),
    }),
    (dir) =>
      withGroup("latency", dir, (server, group) =>
        gmRequests({ endpoint: server.endpoint, group, clients: 1, window: 1, seconds: SECONDS, server }),
      ),
    (b, g) => ({ value: g.p50, baseline: (b.e.p50 ?? Number.NaN) + (b.s.p50 ?? Number.NaN) }),
  );
  const { e, s } = r.base;
  const gm = r.gm;
  const floor = await durableEchoFloor("latency", { clients: 1, window: 1 });
  return {
    value: gm.p50,
    baseline: (e.p50 ?? Number.NaN) + (s.p50 ?? Number.NaN),
    details: {
      rounds: r.rounds,
      gmP99: gm.p99,
      gmRate: gm.value,
      echoP50: e.p50,
      sqliteCommitP50: s.p50,
      sqliteCommitP99: s.p99,
      serverCpuUsPerMessage: gm.serverCpuUsPerRequest,
      cpuCores: { gm: gm.cpuCores, echo: e.cpuCores },
      durableEchoFloor: {
        p50: floor.p50,
        ratio: (floor.p50 ?? Number.NaN) / ((e.p50 ?? Number.NaN) + (s.p50 ?? Number.NaN)),
      },
    },
  };
}

/** Live delivery to 100 members at LIVE_RATE against PUB/SUB to 100 subscribers. */
async function live(): Promise<Measured> {
  const r = await rounds(
    "live",
    () => pubsub({ subscribers: 100, rate: LIVE_RATE, seconds: LIVE_SECONDS }),
    (dir) =>
      withGroup("live", dir, (server, group) =>
        gmLive({ endpoint: server.endpoint, group, members: 100, rate: LIVE_RATE, seconds: LIVE_SECONDS, server }),
      ),
    (b, g) => ({ value: g.p99, baseline: b.p99 ?? Number.NaN }),
  );
  const { base, gm } = r;
  // Not a target: the same PUB/SUB with gm's process layout (a sender, a relay that publishes
  // and acknowledges, the subscribers) and nothing stored: what the layout alone costs here.
  progress("live: PUB/SUB through a relay process (gm's layout, nothing stored)");
  const relay = await pubsub({ subscribers: 100, rate: LIVE_RATE, seconds: LIVE_SECONDS, relay: true });
  return {
    value: gm.p99,
    baseline: base.p99 ?? Number.NaN,
    // The worst round counts (the baseline loses none).
    loss: Math.max(...r.all.map((x) => x.gm.loss)),
    details: {
      rounds: r.rounds,
      layout: gm.layout,
      gmP50: gm.p50,
      baselineP50: base.p50,
      sent: gm.sent,
      sendRate: gm.publishRate,
      received: gm.received,
      expected: gm.expected,
      loss: gm.loss,
      gaps: gm.gaps,
      duplicates: gm.duplicates,
      baselineLoss: base.loss,
      durableAckUs: { p50: gm.ackP50, p99: gm.ackP99 },
      relayFloor: {
        p50: relay.p50,
        p99: relay.p99,
        ratio: (relay.p99 ?? Number.NaN) / (base.p99 ?? Number.NaN),
        loss: relay.loss,
        cpuCores: relay.cpuCores,
      },
      cpuCores: { gm: gm.cpuCores, baseline: base.cpuCores },
    },
  };
}

/**
 * The one-shot commands, whole process, against a running group server: `gm user send` and
 * `gm --help` (those of the two that are wanted) interleaved with `node -e 0`, after one untimed
 * round. Shared by the oneshot and help rows.
 */
const cliRuns = lazy(() =>
  withGroup("oneshot", freshDataDir("oneshot"), async (_server, group) => {
    const cliEnv: NodeJS.ProcessEnv = {
      ...env,
      GM_HOME: path.join(root, "cli-home"),
      GM_SERVER: directory?.endpoint as string,
      GM_INSECURE: "1",
    };
    const text = "x".repeat(100);
    const join = await timedRun([BIN, "user", "join", group], cliEnv);
    if (join.code !== 0) throw new Error(`gm user join: exit ${join.code}: ${join.stderr}`);
    const runs = { node: [] as number[], send: [] as number[], help: [] as number[] };
    // One untimed round first (file cache), then interleaved rounds so drift hits all alike.
    for (let i = 0; i <= ONESHOT_RUNS; i++) {
      const n = await timedRun(["-e", "0"], cliEnv);
      const s = want("oneshot") ? await timedRun([BIN, "user", "send", group, text], cliEnv) : undefined;
      const h = want("help") ? await timedRun([BIN, "--help"], cliEnv) : undefined;
      if (s !== undefined && s.code !== 0) throw new Error(`gm user send: exit ${s.code}: ${s.stderr}`);
      if (h !== undefined && h.code !== 0) throw new Error(`gm --help: exit ${h.code}: ${h.stderr}`);
      if (i === 0) continue;
      runs.node.push(n.wallMs);
      if (s !== undefined) runs.send.push(s.wallMs);
      if (h !== undefined) runs.help.push(h.wallMs);
    }
    return { send: { gm: runs.send, node: runs.node }, help: { gm: runs.help, node: runs.node } };
  }),
);

function cliRow(runs: { gm: number[]; node: number[] }): Measured {
  const stats = (v: number[]) => {
    const s = summarize(v);
    return { runs: s.count, min: s.min, p50: s.p50, mean: s.mean, max: s.max };
  };
  return {
    value: summarize(runs.gm).p50,
    baseline: summarize(runs.node).p50,
    details: { gm: stats(runs.gm), node: stats(runs.node) },
  };
}

/** Creates the group's file with gm (start and stop once), then fills it directly. */
async function filledGroup(label: string, messages: number): Promise<{ dataDir: string; fillMs: number }> {
  const dataDir = freshDataDir(label);
  await withGroup(`${label}-create`, dataDir, async () => {});
  const r = await prefill({ db: path.join(dataDir, `${label}.db`), group: label, messages, members: MEMBERS });
  return { dataDir, fillMs: r.elapsedMs };
}

/** The 10,000-message group the ingest row compares with. */
const smallGroup = lazy(() => {
  progress(`prefill: ${SMALL} messages, ${MEMBERS} members`);
  return filledGroup("small", SMALL);
});

/** The large group (BIG messages): filled once, after the small one when ingest needs that. */
const bigGroup = lazy(async () => {
  if (want("ingest")) await smallGroup().catch(() => {}); // its error is the ingest row's
  progress(`prefill: ${BIG} messages, ${MEMBERS} members`);
  return filledGroup("big", BIG);
});

/** The size of the large group's files, before any server has written to it. */
async function disk(): Promise<Measured> {
  const big = await bigGroup();
  const usage = diskUsage(big.dataDir);
  return {
    value: usage.bytes,
    baseline: BIG * 100,
    details: {
      bytesPerMessage: usage.bytes / BIG,
      allocatedBytes: usage.allocated,
      files: usage.files,
      members: MEMBERS,
      prefillMs: big.fillMs,
    },
  };
}

type HistoryResult = Awaited<ReturnType<typeof gmRequests>>;

function historyDetails(h: HistoryResult, e: EchoResult): Record<string, unknown> {
  return {
    pages: h.count,
    pagesPerSecond: h.value,
    serverCpuUsPerPage: h.serverCpuUsPerRequest,
    echoP50: e.p50,
    echoP99: e.p99,
  };
}

/**
 * One `gm group` on the large group serves, in this order, the history pages, the ingest rounds
 * (alternating with the small group's server) and then the memory row, which reads the peak RSS of
 * that server after both. Shared by the history, ingest and memory rows; each wanted part is
 * measured, and a part that fails fails its rows only.
 */
const bigGroupSession = lazy(async () => {
  const big = await bigGroup();
  const t0 = Date.now();
  return withGroup("big", big.dataDir, async (server, group) => {
    const startMs = Date.now() - t0;
    const afterStart = server.memory();
    const history = want("history")
      ? await part(async () => {
          const e = await echo1();
          const h = await gmRequests({
            endpoint: server.endpoint,
            group,
            clients: 1,
            window: 1,
            seconds: SECONDS,
            mode: "history",
            historyMax: BIG,
            limit: 100,
            server,
          });
          return { h, e };
        })
      : undefined;
    const ingest = want("ingest")
      ? await part(async (): Promise<Measured> => {
          const { dataDir } = await smallGroup();
          // Alternating pairs as for the send workloads: the small group's server, then the big one.
          const rs = await rounds(
            "ingest",
            () =>
              withGroup("ingest-small", dataDir, (small, smallGroupName) =>
                gmRequests({
                  endpoint: small.endpoint,
                  group: smallGroupName,
                  clients: 1,
                  window: 100,
                  seconds: SECONDS,
                }),
              ),
            () => gmRequests({ endpoint: server.endpoint, group, clients: 1, window: 100, seconds: SECONDS, server }),
            (b, g) => ({ value: g.value, baseline: b.value }),
          );
          const r = rs.gm;
          return {
            value: r.value,
            baseline: rs.base.value,
            details: { rounds: rs.rounds, p50: r.p50, p99: r.p99, serverCpuUsPerMessage: r.serverCpuUsPerRequest },
          };
        })
      : undefined;
    const memory = want("memory")
      ? await part(async (): Promise<Measured> => {
          const m = server.memory();
          return {
            value: m.peak / MB,
            baseline: null,
            details: {
              rssAfterStartMB: afterStart.rss / MB,
              rssNowMB: m.rss / MB,
              peakMB: m.peak / MB,
              processes: m.processes,
              startMs,
              workloadsBefore: ["history" as const, "ingest" as const].filter((k) => want(k)),
            },
          };
        })
      : undefined;
    return { history, ingest, memory };
  });
});

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const t0 = Date.now();
  const mach = machine();
  progress(
    `gm bench${quick ? " --quick" : ""}: ${String(mach.cpu)} x ${String(mach.cores)}, node ${process.version}, zeromq ${String(mach.zeromq)} (libzmq ${String(mach.libzmq)})`,
  );
  try {
    directory = await startDirectory({ env });
    for (const w of WORKLOADS) {
      if (!want(w.key)) continue;
      progress(`--- ${w.label}`);
      try {
        record(w, await w.run());
      } catch (err) {
        recordError(w, err);
      }
    }
  } finally {
    await directory?.stop(5000);
    await killAllWorkers();
    removeTempDir(root);
  }

  const leftover = liveWorkerCount();
  const leftDirs = [
    ...liveTempDirs(),
    ...benchTempEntries()
      .filter((n) => !tempBefore.has(n))
      .map((n) => path.join(os.tmpdir(), n)),
  ].filter((d, i, all) => all.indexOf(d) === i);
  if (leftover > 0 || leftDirs.length > 0) {
    errors++;
    progress(`LEAK: ${leftover} process(es) still running, temp dirs left: ${leftDirs.join(" ")}`);
  }

  const order = new Map(KEYS.map((k, i) => [k, i]));
  rows.sort((a, b) => (order.get(a.key) ?? 0) - (order.get(b.key) ?? 0));
  const show = (v: number | null, unit: string): string => (v === null ? "-" : `${fmt(v)} ${unit}`);
  const lines = rows.map((r) => [
    r.workload + (r.reduced !== undefined ? " *" : ""),
    r.error !== undefined ? "ERROR" : show(r.value, r.unit),
    show(r.baseline, r.unit),
    r.ratio === null ? "-" : r.ratio.toFixed(2),
    r.target,
    r.error !== undefined ? "error" : r.pass ? "pass" : "FAIL",
  ]);
  const out: string[] = [];
  out.push("");
  out.push(table(["workload", "gm", "baseline", "ratio", "target", "pass"], lines));
  out.push("");
  out.push("baselines (same machine, same run):");
  for (const r of rows) if (r.baselineOf !== "") out.push(`  ${r.workload}: ${r.baselineOf}`);
  for (const r of rows) if (r.failReason !== undefined) out.push(`FAIL ${r.workload}: ${r.failReason}`);
  for (const r of rows) if (r.error !== undefined) out.push(`ERROR ${r.workload}: ${r.error}`);
  if (quick) out.push(`* --quick: ${SIZE} stored messages instead of 1,000,000; ~1 s per workload`);
  out.push(
    `machine: ${String(mach.cpu)}, ${String(mach.cores)} cores, ${String(mach.memoryGB)} GB, ${String(mach.os)}; node ${process.version}, zeromq ${String(mach.zeromq)}, libzmq ${String(mach.libzmq)}, SQLite ${String(mach.sqlite)}; load average at start ${String((mach.loadavgAtStart as number[])[0])}`,
  );
  const seconds = (Date.now() - t0) / 1000;
  out.push(`${rows.filter((r) => r.pass).length}/${rows.length} targets met, total ${seconds.toFixed(0)} s`);
  process.stdout.write(`${out.join("\n")}\n`);

  const file =
    values.out ??
    path.join(PROJECT_ROOT, "bench", "results", `${runId.replace("T", "_")}${quick ? "-quick" : ""}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const json = {
    date: started.toISOString(),
    quick,
    seconds: { perWorkload: SECONDS, live: LIVE_SECONDS },
    rounds: ROUNDS,
    // Experiment switches that change what is measured (absent in a normal run).
    ...(values["group-nice"] !== undefined && { groupNice: Number(values["group-nice"]) }),
    ...(values["group-script"] !== undefined && { groupScript: values["group-script"] }),
    ...(values["group-node-args"] !== undefined && { groupNodeArgs: values["group-node-args"] }),
    sizes: { small: SMALL, big: BIG, members: MEMBERS, oneshotRuns: ONESHOT_RUNS, messageBytes: 100 },
    machine: { ...mach, loadavgAtEnd: os.loadavg().map((l) => Math.round(l * 100) / 100) },
    results: rows,
    totalSeconds: seconds,
    ...(values["cpu-prof"] && { profiles: path.join(profileDir, `${runId}-*.cpuprofile`) }),
  };
  fs.writeFileSync(
    file,
    `${JSON.stringify(json, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2)}\n`,
  );
  progress(`results written to ${path.relative(PROJECT_ROOT, file)}`);
  if (errors > 0 || (values.strict && rows.some((r) => !r.pass))) process.exitCode = 1;
}

await main();
