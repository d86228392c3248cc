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
 *                                       bench/experiments/protocol-floor.ts; insecure rows only)
 *   npm run bench -- --security curve   only the rows of these security modes (insecure,curve; default
 *                                       both)
 *
 * Workload keys: send32 window latency bound32 bound1 live history ingest memory disk oneshot help.
 *
 * Server-bound layout (bound32, bound1): ONE client process holding N DEALER sockets (32, or 1),
 * one SEND outstanding on each, against gm and against the raw echo in the same layout, so that
 * the clients take little of the 2 cores and the group server's own cost shows. bound1 is the
 * latency row's measurement (one process, one socket, one at a time) held to the issue's tighter
 * target; the window row (one process, one socket, 100 in flight) is the layout's third case.
 * bound32 and window also measure, once per run and plain text, the floors of gm's design with the
 * same clients (protocolFloors(): bench/experiments/protocol-floor.ts in place of gm group), shown
 * under the table beside the raw and durable echo.
 *
 * Every send row also reports the group server's CPU time per acknowledged message (user +
 * system from /proc/<pid>/stat, read right before and right after the measured phase) and the
 * messages each fdatasync of its store made durable over that phase (GM_SYNC_COUNTS=1: the
 * server logs its counts on SIGUSR2).
 *
 * Security: the send, live, history and one-shot rows are measured twice, against gm running
 * `--insecure` (plain text, beside raw zeromq) and against gm as it runs by default (CURVE, every
 * request signed, beside raw zeromq with CURVE), in the same rounds; each such row also reports the
 * cost of security, the secure gm's number over the insecure gm's.
 * See docs/PERFORMANCE.md for what each one does and what the numbers mean.
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import * as zmq from "zeromq";
import { type EchoResult, echo, type PubsubResult, pubsub, sqliteSingle } from "./baseline/index.js";
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
import { SECURITIES, type Security, securityLabel } from "./lib/curve.js";
import { fmt, progress, table } from "./lib/output.js";
import { benchPath, PROJECT_ROOT } from "./lib/paths.js";
import { killAllWorkers, liveWorkerCount } from "./lib/procs.js";
import { summarize } from "./lib/stats.js";
import { sleep } from "./lib/time.js";

/** Workload keys, in the order of the printed table and of the JSON's results. */
const KEYS = [
  "send32",
  "window",
  "latency",
  "bound32",
  "bound1",
  "live",
  "history",
  "ingest",
  "memory",
  "disk",
  "oneshot",
  "help",
] as const;
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
    security: { type: "string" },
  },
});

const quick = values.quick;
const only = new Set<string>(values.only?.split(",").map((s) => s.trim()) ?? KEYS);
for (const k of only) if (!(KEYS as readonly string[]).includes(k)) throw new Error(`unknown workload "${k}"`);
const want = (k: Key): boolean => only.has(k);
/** The security modes measured (--security); experiments with --group-script are insecure only. */
const MODES: readonly Security[] = (() => {
  const given = values.security?.split(",").map((s) => s.trim());
  const modes = given ?? (values["group-script"] !== undefined ? ["insecure"] : [...SECURITIES]);
  for (const m of modes) if (!(SECURITIES as readonly string[]).includes(m)) throw new Error(`unknown security "${m}"`);
  if (values["group-script"] !== undefined && modes.includes("curve")) {
    throw new Error("--group-script runs an insecure experiment: use it with --security insecure");
  }
  return SECURITIES.filter((m) => modes.includes(m));
})();
/** A value for each measured security mode. */
type BySecurity<T> = Partial<Record<Security, T>>;

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

/** What security costs a row: gm's secure number over its insecure one, measured in the same run. */
interface SecurityCost {
  /** Secure gm / insecure gm (the median of the rounds' ratios, for rows measured in rounds). */
  gm: number;
  /** The same for the raw baselines: raw CURVE / raw plain (null when the row has no baseline). */
  raw: number | null;
  /** Each round's secure gm / insecure gm, for rows measured in rounds. */
  rounds?: number[];
  /** Each round's raw CURVE / raw plain. */
  rawRounds?: number[];
}

/** What a workload's run measured. */
interface Measured {
  value: number;
  /** The same measurement without gm (null when the target is absolute). */
  baseline: number | null;
  /** The share of messages lost, for a target with `maxLoss`. */
  loss?: number;
  /** For rows measured in both security modes, when both were. */
  securityCost?: SecurityCost | undefined;
  /** Send rows: the server figures of the measured phase (serverFigures()). */
  server?: ServerFigures | undefined;
  details?: Record<string, unknown>;
}

/** A send row's group server over the measured phase (the figures to drive down, issue 17). */
interface ServerFigures {
  /** CPU time (user + system) of the `gm group` process per acknowledged message, us. */
  cpuUsPerMessage: number;
  /** Writes made durable per fdatasync of the store's log (null when the server did not say). */
  messagesPerFsync: number | null;
  /** The counts behind it: writes made durable, log fdatasyncs, mark fdatasyncs, acknowledged messages. */
  writes: number | null;
  fsyncs: number | null;
  markSyncs: number | null;
  acknowledged: number;
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
  /** The security mode of gm and of the baseline, for rows measured in both. */
  security?: Security;
  run: () => Promise<Measured>;
}

/**
 * A row measured in each security mode (MODES): one entry per mode, named by `label(mode)` (mode
 * is " (insecure)" or " (CURVE)") and compared with `baselineOf(curve)` (curve is " with CURVE" or
 * ""), both with the same target; `run(mode)` gives the mode's measurement.
 */
function paired(
  w: Omit<Workload, "label" | "baselineOf" | "run" | "security"> & {
    label: (mode: string) => string;
    baselineOf: (curve: string) => string;
    run: (s: Security) => Promise<Measured>;
  },
): Workload[] {
  return MODES.map((s) => ({
    ...w,
    label: w.label(` (${securityLabel(s)})`),
    baselineOf: w.baselineOf(s === "curve" ? " with CURVE" : ""),
    security: s,
    run: () => w.run(s),
  }));
}

/** The mode's part of a measurement made in every mode. */
async function pick(p: Promise<BySecurity<Measured>>, s: Security): Promise<Measured> {
  const m = (await p)[s];
  if (m === undefined) throw new Error(`not measured ${securityLabel(s)}`);
  return m;
}

/**
 * One entry per row, in the order they run (the printed table sorts them by KEYS). Rows that share
 * a measurement (the two security modes of a row, the one-shot commands, the rows of the large
 * group's server) take it from one run made for the first of them; see the measurements below.
 */
const WORKLOADS: Workload[] = [
  ...paired({
    key: "send32",
    label: (m) => `durable send, 32 clients, 1 outstanding each${m}`,
    unit: "msg/s",
    baselineOf: (c) => `raw ROUTER/DEALER echo${c}, 32 client processes, 1 outstanding each`,
    target: { kind: "min-ratio", ratio: 0.6 },
    run: (s) => pick(send32(), s),
  }),
  ...paired({
    key: "window",
    label: (m) => `durable send, 1 client, window of 100${m}`,
    unit: "msg/s",
    baselineOf: (c) => `raw pipelined echo${c}, 1 client, 100 in flight`,
    target: { kind: "min-ratio", ratio: 0.7 },
    run: (s) => pick(sendWindow(), s),
  }),
  ...paired({
    key: "latency",
    label: (m) => `durable send, 1 client, one at a time${m}: p50`,
    unit: "us",
    baselineOf: (c) => `raw echo${c} p50 (1 client) + raw SQLite one-row fsync'd commit p50`,
    target: { kind: "max-ratio", ratio: 1.5 },
    run: (s) => pick(sendLatency(), s),
  }),
  ...paired({
    key: "bound32",
    label: (m) => `durable send, 1 client process, 32 sockets, 1 outstanding each${m}`,
    unit: "msg/s",
    baselineOf: (c) => `raw ROUTER/DEALER echo${c}, 1 client process, 32 sockets, 1 outstanding each`,
    target: { kind: "min-ratio", ratio: 0.9 },
    run: (s) => pick(bound32(), s),
  }),
  ...paired({
    key: "bound32",
    label: (m) => `group server CPU per acked message, 1 client process, 32 sockets${m}`,
    unit: "us",
    baselineOf: (c) => `the raw echo${c} server's CPU per round trip in the same layout and round (its floor)`,
    target: { kind: "max-value", value: 25 },
    run: async (s) => {
      const m = await pick(bound32(), s);
      const floor = m.details?.baselineServerCpuUsPerMessage;
      return {
        value: m.server?.cpuUsPerMessage ?? Number.NaN,
        baseline: typeof floor === "number" ? floor : null,
        server: m.server,
      };
    },
  }),
  ...paired({
    key: "bound1",
    label: (m) => `durable send, 1 client process, 1 socket, one at a time${m}: p50`,
    unit: "us",
    baselineOf: (c) =>
      `raw echo${c} p50 (1 client) + raw SQLite one-row fsync'd commit p50 (the latency row's measurement)`,
    target: { kind: "max-ratio", ratio: 1.15 },
    run: (s) => pick(sendLatency(), s),
  }),
  ...paired({
    key: "live",
    label: (m) => `live delivery to 100 members, ${count(LIVE_RATE)} msg/s${m}: p99`,
    unit: "us",
    baselineOf: (c) => `raw PUB/SUB${c} p99, 100 subscribers (10 processes x 10 sockets)`,
    target: { kind: "max-ratio", ratio: 2, maxLoss: 0.001 },
    run: (s) => pick(live(), s),
  }),
  ...MODES.filter((m) => m === "insecure").map(
    (): Workload => ({
      key: "live",
      label: `live delivery to 100 members, ${count(LIVE_RATE)} msg/s (insecure): p99 over the relay floor`,
      unit: "us",
      baselineOf: "PUB/SUB p99 through a relay process that stores nothing (bench/baseline/relay.ts), same run",
      target: { kind: "max-ratio", ratio: 1.5, maxLoss: 0.001 },
      security: "insecure",
      run: async () => {
        const m = await pick(live(), "insecure");
        const relay = (m.details as { relayFloor?: { p99?: number | null } } | undefined)?.relayFloor;
        return { ...m, baseline: relay?.p99 ?? null };
      },
    }),
  ),
  ...paired({
    key: "oneshot",
    label: (m) => `\`gm user send\` one-shot${m}, whole process: p50`,
    unit: "ms",
    baselineOf: () => "`node -e 0` p50",
    target: { kind: "max-ratio", ratio: 3 },
    run: async (s) => cliSendRow(await cliRuns(), s),
  }),
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
  ...paired({
    key: "history",
    label: (m) => `history page of 100 from ${SIZE} (random start)${m}: p50`,
    unit: "us",
    baselineOf: (c) => `raw echo${c} p50, 1 client`,
    target: { kind: "max-ratio", ratio: 3 },
    stored: true,
    run: (s) => historyRow(s, "p50"),
  }),
  ...paired({
    key: "history",
    label: (m) => `history page of 100 from ${SIZE} (random start)${m}: p99`,
    unit: "us",
    baselineOf: (c) => `raw echo${c} p99, 1 client`,
    target: { kind: "max-ratio", ratio: 10 },
    stored: true,
    run: (s) => historyRow(s, "p99"),
  }),
  {
    key: "ingest",
    label: `ingest scale: send rate at ${SIZE} stored messages (insecure)`,
    unit: "msg/s",
    baselineOf: `the same (1 client, window 100) at ${count(SMALL)} stored messages`,
    target: { kind: "min-ratio", ratio: 0.8 },
    stored: true,
    run: async () => settled((await bigGroupSession()).ingest),
  },
  {
    key: "memory",
    label: `memory: group server, ${SIZE} messages, ${count(MEMBERS)} members (peak RSS, insecure)`,
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
  /** gm's and the baseline's security mode: `--insecure` / raw plain text, or CURVE. */
  security?: Security;
  /** Secure gm / insecure gm (and raw CURVE / raw plain), for rows measured in both modes. */
  securityCost?: SecurityCost;
  /** Send rows: the group server's CPU per acknowledged message and messages per fsync, measured phase only. */
  server?: ServerFigures;
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
    ...(w.security !== undefined && { security: w.security }),
    ...(m.securityCost !== undefined && { securityCost: m.securityCost }),
    ...(m.server !== undefined && { server: m.server }),
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
      ` [${row.target}] ${row.pass ? "PASS" : "FAIL"}` +
      (row.securityCost === undefined ? "" : `; CURVE/insecure ${costText(row.securityCost)}`),
  );
}

/** "0.93 (raw 0.97)": secure gm / insecure gm, and raw CURVE / raw plain. */
function costText(c: SecurityCost): string {
  return `${c.gm.toFixed(2)}${c.raw === null ? "" : ` (raw ${c.raw.toFixed(2)})`}`;
}

/** A row whose run failed: the error is reported and the run goes on. */
function recordError(w: Workload, err: unknown): void {
  errors++;
  const message = err instanceof Error ? err.message : String(err);
  progress(`${w.label} FAILED: ${message}`);
  rows.push({
    workload: w.label,
    key: w.key,
    ...(w.security !== undefined && { security: w.security }),
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
/**
 * The servers' GM_HOME: secure ones leave their public keys in it, where the others find them.
 * GM_SYNC_COUNTS: each `gm group` logs its store's sync counts on SIGUSR2 (GmProcess.syncCounts).
 */
const env: NodeJS.ProcessEnv = { GM_HOME: path.join(root, "home"), GM_SYNC_COUNTS: "1" };
/** One `gm server` per measured security mode, for the whole run. */
const directories: BySecurity<GmProcess> = {};

function nodeArgs(label: string): string[] {
  const extra = values["group-node-args"]?.split(" ").filter((a) => a !== "") ?? [];
  if (!values["cpu-prof"]) return extra;
  fs.mkdirSync(profileDir, { recursive: true });
  return [...extra, "--cpu-prof", `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${runId}-${label}.cpuprofile`];
}

/**
 * Starts a `gm group` on `dataDir` in security mode `security` (registered with that mode's
 * directory), runs `fn`, and stops the group server whatever happens. The group is named after the
 * data directory (send32, window, ..., small, big, send32-curve, ...): one name per store, so a
 * server started right after another one never collides with the other's registration.
 */
async function withGroup<T>(
  label: string,
  dataDir: string,
  fn: (g: GmProcess, group: string) => Promise<T>,
  security: Security = "insecure",
  floor?: FloorMode,
): Promise<T> {
  const directory = directories[security];
  if (directory === undefined) throw new Error(`no ${security} directory`);
  const group = path.basename(dataDir);
  let g: GmProcess | undefined;
  for (let attempt = 1; g === undefined; attempt++) {
    try {
      g = await startGroup(
        group,
        dataDir,
        directory.endpoint,
        floor !== undefined
          ? // The GM/2 floor server (bench/experiments/protocol-floor.ts), TypeScript run through tsx.
            { env: { ...env, FLOOR_MODE: floor }, security, nodeArgs: ["--import", "tsx"], script: FLOOR_SCRIPT }
          : {
              env,
              security,
              nodeArgs: nodeArgs(security === "curve" ? `${label}-curve` : label),
              ...(values["group-script"] !== undefined && { script: path.resolve(values["group-script"]) }),
            },
      );
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

/** What a bench client needs to talk to a running group server: gmRequests / gmLive options. */
function on(server: GmProcess, group: string) {
  return { endpoint: server.endpoint, group, server, serverKey: server.publicKey };
}

/** `label`, or `label-curve` for the secure mode: data dirs, and so group names. */
const named = (label: string, s: Security): string => (s === "curve" ? `${label}-curve` : label);

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

/** Raw echo, 1 client, 1 outstanding, plain and with CURVE: each measured once per run, on first use. */
const echo1 = {
  insecure: lazy((): Promise<EchoResult> => {
    progress("baseline: echo c=1 w=1");
    return echo({ clients: 1, window: 1, seconds: SECONDS });
  }),
  curve: lazy((): Promise<EchoResult> => {
    progress("baseline: echo c=1 w=1 with CURVE");
    return echo({ clients: 1, window: 1, seconds: SECONDS, curve: true });
  }),
};

const median = (v: readonly number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.floor((s.length - 1) / 2)] as number);
};

interface Round<B, G> {
  base: B;
  gm: G;
  value: number;
  baseline: number;
  ratio: number;
}

interface Rounds<B, G> extends Round<B, G> {
  rounds: Array<{ value: number; baseline: number; ratio: number }>;
  all: Array<Round<B, G>>;
}

/**
 * Runs `baseline` then `gm` ROUNDS times in each of `modes`, and returns for each mode the round
 * with the median ratio, with every round's value, baseline and ratio for the JSON. In each round
 * every mode has its pair, the modes taking turns to go first (insecure first in odd rounds), so
 * the two modes of a row see the same minutes of the machine. Each gm round gets a fresh group and
 * data dir. With both modes, `cost` is secure gm / insecure gm: each round's ratio and their median
 * (and the same for the raw baselines).
 */
async function rounds<B, G>(
  label: string,
  modes: readonly Security[],
  baseline: (s: Security) => Promise<B>,
  gm: (s: Security, dataDir: string) => Promise<G>,
  measure: (base: B, gm: G) => { value: number; baseline: number },
): Promise<{ by: BySecurity<Rounds<B, G>>; cost: SecurityCost | undefined }> {
  const all: BySecurity<Array<Round<B, G>>> = {};
  for (let i = 1; i <= ROUNDS; i++) {
    if (ROUNDS > 1) progress(`${label}: round ${i} of ${ROUNDS}`);
    for (const s of i % 2 === 1 ? modes : [...modes].reverse()) {
      if (modes.length > 1) progress(`${label}: ${securityLabel(s)}`);
      const base = await baseline(s);
      const name = named(label, s);
      const g = await gm(s, freshDataDir(ROUNDS > 1 ? `${name}-r${i}` : name));
      const m = measure(base, g);
      all[s] = [...(all[s] ?? []), { base, gm: g, ...m, ratio: m.value / m.baseline }];
    }
  }
  const by: BySecurity<Rounds<B, G>> = {};
  for (const s of modes) {
    const mine = all[s] ?? [];
    const sorted = [...mine].sort((a, b) => a.ratio - b.ratio);
    const mid = sorted[Math.floor((sorted.length - 1) / 2)] as Round<B, G>;
    by[s] = { ...mid, rounds: mine.map(({ value, baseline, ratio }) => ({ value, baseline, ratio })), all: mine };
  }
  const [plain, curve] = [all.insecure, all.curve];
  const cost =
    plain === undefined || curve === undefined
      ? undefined
      : (() => {
          const gmRounds = curve.map((c, i) => c.value / (plain[i] as Round<B, G>).value);
          const rawRounds = curve.map((c, i) => c.baseline / (plain[i] as Round<B, G>).baseline);
          return { gm: median(gmRounds), raw: median(rawRounds), rounds: gmRounds, rawRounds };
        })();
  return { by, cost };
}

/** `f` of each measured mode's part of `r.by`. */
function perMode<R, T>(by: BySecurity<R>, f: (r: R, s: Security) => T): BySecurity<T> {
  const out: BySecurity<T> = {};
  for (const s of MODES) {
    const r = by[s];
    if (r !== undefined) out[s] = f(r, s);
  }
  return out;
}

/** The one mode's rounds of a workload measured in that mode only. */
function only1<T>(by: BySecurity<T>, s: Security): T {
  const r = by[s];
  if (r === undefined) throw new Error(`not measured ${securityLabel(s)}`);
  return r;
}

// ---------------------------------------------------------------------------
// The measurements
// ---------------------------------------------------------------------------

/** The send workloads, each in every mode (a row per mode), and measured on first use. */
const send32 = lazy(() => sendThroughput("send32", { clients: 32, window: 1 }));
const sendWindow = lazy(() => sendThroughput("window", { clients: 1, window: 100 }));
/** The server-bound layout: one client process with 32 sockets. */
const bound32 = lazy(() => sendThroughput("bound32", { clients: 1, sockets: 32, window: 1 }));

/** A send row's server figures from its gm measurement (null counts: the server did not report them). */
function serverFigures(g: Awaited<ReturnType<typeof gmRequests>>): ServerFigures {
  return {
    cpuUsPerMessage: g.serverCpuUsPerRequest,
    messagesPerFsync: g.sync?.writesPerSync ?? null,
    writes: g.sync?.writes ?? null,
    fsyncs: g.sync?.syncs ?? null,
    markSyncs: g.sync?.markSyncs ?? null,
    acknowledged: g.count,
  };
}

/** A durable-send throughput workload against echo (with CURVE when gm has it), same clients, sockets and window. */
async function sendThroughput(
  key: "send32" | "window" | "bound32",
  layout: { clients: number; sockets?: number; window: number },
): Promise<BySecurity<Measured>> {
  const r = await rounds(
    key,
    MODES,
    (s) => echo({ ...layout, seconds: SECONDS, curve: s === "curve" }),
    (s, dir) =>
      withGroup(key, dir, (server, group) => gmRequests({ ...on(server, group), ...layout, seconds: SECONDS }), s),
    (b, g) => ({ value: g.value, baseline: b.value }),
  );
  const floor = MODES.includes("insecure") ? await durableEchoFloor(key, layout) : undefined;
  const protocol =
    key !== "send32" && MODES.includes("insecure") && values["group-script"] === undefined
      ? await protocolFloors(key, layout)
      : undefined;
  return perMode(r.by, ({ base, gm, rounds }, s) => ({
    value: gm.value,
    baseline: base.value,
    securityCost: r.cost,
    server: serverFigures(gm),
    details: {
      rounds,
      processes: { gm: gm.processes, baseline: base.processes },
      gmLatencyUs: { p50: gm.p50, p99: gm.p99 },
      baselineLatencyUs: { p50: base.p50, p99: base.p99 },
      serverCpuUsPerMessage: gm.serverCpuUsPerRequest,
      baselineServerCpuUsPerMessage: base.serverCpuUsPerMessage,
      cpuCores: { gm: gm.cpuCores, baseline: base.cpuCores },
      ...(s === "insecure" &&
        floor !== undefined && {
          durableEchoFloor: {
            value: floor.value,
            ratio: floor.value / base.value,
            p50: floor.p50,
            cpuCores: floor.cpuCores,
            serverCpuUsPerMessage: floor.serverCpuUsPerMessage,
          },
        }),
      ...(s === "insecure" &&
        protocol !== undefined && {
          protocolFloors: Object.fromEntries(
            Object.entries(protocol).map(([mode, m]) => [
              mode,
              {
                value: m.value,
                ratio: m.value / base.value,
                p50: m.p50,
                serverCpuUsPerMessage: m.serverCpuUsPerRequest,
              },
            ]),
          ),
        }),
    },
  }));
}

/**
 * The floors measured beside the server-bound rows (insecure), as lines under the table: the rate
 * (and the server's CPU per message) of the raw echo, the durable echo and the two GM/2 floor
 * servers, against gm's in the same run. References, not targets: they show how much of a missed
 * target is this machine, ZeroMQ and SQLite, and how much is gm.
 */
function floorLines(rows: readonly Row[]): string[] {
  const out: string[] = [];
  for (const r of rows) {
    const d = r.details as Record<string, unknown> | undefined;
    const protocol = d?.protocolFloors as Record<string, FloorFigures> | undefined;
    if (protocol === undefined || r.unit !== "msg/s" || r.value === null || r.baseline === null) continue;
    const echoCpu = d?.baselineServerCpuUsPerMessage as number | undefined;
    const durable = d?.durableEchoFloor as FloorFigures | undefined;
    const line = (what: string, value: number, cpu: number | null | undefined) =>
      `    ${what.padEnd(58)} ${fmt(value).padStart(7)} msg/s  ${(value / (r.baseline as number)).toFixed(2)}  ${cpu == null ? "" : `server CPU ${fmt(cpu)} us/msg`}`;
    out.push(`  floors of "${r.workload}" (plain text, same clients, same run; not targets):`);
    out.push(line("raw echo (the baseline)", r.baseline, echoCpu));
    if (durable !== undefined)
      out.push(line("durable echo: write + fdatasync per batch", durable.value, durable.serverCpuUsPerMessage));
    for (const [mode, f] of Object.entries(protocol)) {
      const what =
        mode === "instant"
          ? "GM/2 floor: gm's codec and outbox, nothing stored"
          : "GM/2 floor + gm's SQLite table, fdatasync per batch";
      out.push(line(what, f.value, f.serverCpuUsPerMessage));
    }
    out.push(line("gm", r.value, r.server?.cpuUsPerMessage));
  }
  return out;
}

interface FloorFigures {
  value: number;
  serverCpuUsPerMessage?: number | null;
}

/** The modes of bench/experiments/protocol-floor.ts the server-bound rows are measured against. */
type FloorMode = "instant" | "sqlite";
const FLOOR_SCRIPT = benchPath("experiments/protocol-floor.ts");

/**
 * Not targets: the floors of gm's design in a layout, measured once per run, plain text, with the
 * same clients as gm (bench/gm/send-client.ts), each against bench/experiments/protocol-floor.ts in
 * place of `gm group`: `instant` speaks GM/2 through gm's own codec and outbox and stores nothing;
 * `sqlite` also inserts each batch into gm's messages table in one transaction and fdatasyncs the
 * WAL before it answers. What a gm server with no other work would get here.
 */
async function protocolFloors(
  key: string,
  layout: { clients: number; sockets?: number; window: number },
): Promise<Record<FloorMode, Awaited<ReturnType<typeof gmRequests>>>> {
  const measure = (mode: FloorMode) => {
    progress(`${key}: GM/2 floor server (${mode})`);
    const label = `${key}-floor-${mode}`;
    return withGroup(
      label,
      freshDataDir(label),
      (server, group) => gmRequests({ ...on(server, group), ...layout, seconds: SECONDS }),
      "insecure",
      mode,
    );
  };
  return { instant: await measure("instant"), sqlite: await measure("sqlite") };
}

/**
 * Not a target: the smallest durable echo (echo-server.ts --durable: group commit, one write and
 * one fdatasync per batch, on the event loop) with the same clients, measured once per run, plain
 * text. A reference for gm's insecure row: what a server that syncs before it answers, and does
 * nothing else, gets on this machine.
 */
async function durableEchoFloor(
  key: string,
  layout: { clients: number; sockets?: number; window: number },
): Promise<EchoResult> {
  progress(`${key}: durable echo (write + fdatasync per batch, no gm code)`);
  return echo({ ...layout, seconds: SECONDS, durable: true });
}

/** One client, one SEND at a time: p50 against echo p50 plus a one-row SQLite commit p50. */
const sendLatency = lazy(async (): Promise<BySecurity<Measured>> => {
  const r = await rounds(
    "latency",
    MODES,
    async (mode) => ({
      e: await echo({ clients: 1, window: 1, seconds: SECONDS, curve: mode === "curve" }),
      s: await sqliteSingle({ seconds: SECONDS }),
    }),
    (mode, dir) =>
      withGroup(
        "latency",
        dir,
        (server, group) => gmRequests({ ...on(server, group), clients: 1, window: 1, seconds: SECONDS }),
        mode,
      ),
    (b, g) => ({ value: g.p50, baseline: (b.e.p50 ?? Number.NaN) + (b.s.p50 ?? Number.NaN) }),
  );
  const floor = MODES.includes("insecure") ? await durableEchoFloor("latency", { clients: 1, window: 1 }) : undefined;
  return perMode(r.by, ({ base, gm, rounds }, mode) => {
    const { e, s } = base;
    const baseline = (e.p50 ?? Number.NaN) + (s.p50 ?? Number.NaN);
    return {
      value: gm.p50,
      baseline,
      securityCost: r.cost,
      server: serverFigures(gm),
      details: {
        rounds,
        gmP99: gm.p99,
        gmRate: gm.value,
        echoP50: e.p50,
        sqliteCommitP50: s.p50,
        sqliteCommitP99: s.p99,
        serverCpuUsPerMessage: gm.serverCpuUsPerRequest,
        cpuCores: { gm: gm.cpuCores, echo: e.cpuCores },
        ...(mode === "insecure" &&
          floor !== undefined && { durableEchoFloor: { p50: floor.p50, ratio: (floor.p50 ?? Number.NaN) / baseline } }),
      },
    };
  });
});

/** Live delivery to 100 members at LIVE_RATE against PUB/SUB (with CURVE when gm has it) to 100 subscribers. */
const live = lazy(async (): Promise<BySecurity<Measured>> => {
  const r = await rounds(
    "live",
    MODES,
    (s) => pubsub({ subscribers: 100, rate: LIVE_RATE, seconds: LIVE_SECONDS, curve: s === "curve" }),
    (s, dir) =>
      withGroup(
        "live",
        dir,
        (server, group) => gmLive({ ...on(server, group), members: 100, rate: LIVE_RATE, seconds: LIVE_SECONDS }),
        s,
      ),
    (b, g) => ({ value: g.p99, baseline: b.p99 ?? Number.NaN }),
  );
  // Not a target: the same PUB/SUB with gm's process layout (a sender, a relay that publishes
  // and acknowledges, the subscribers) and nothing stored: what the layout alone costs here.
  let relay: PubsubResult | undefined;
  if (MODES.includes("insecure")) {
    progress("live: PUB/SUB through a relay process (gm's layout, nothing stored)");
    relay = await pubsub({ subscribers: 100, rate: LIVE_RATE, seconds: LIVE_SECONDS, relay: true });
  }
  return perMode(r.by, ({ base, gm, rounds, all }, s) => ({
    value: gm.p99,
    baseline: base.p99 ?? Number.NaN,
    // The worst round counts (the baseline loses none).
    loss: Math.max(...all.map((x) => x.gm.loss)),
    securityCost: r.cost,
    details: {
      rounds,
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
      ...(s === "insecure" &&
        relay !== undefined && {
          relayFloor: {
            p50: relay.p50,
            p99: relay.p99,
            ratio: (relay.p99 ?? Number.NaN) / (base.p99 ?? Number.NaN),
            loss: relay.loss,
            cpuCores: relay.cpuCores,
          },
        }),
      cpuCores: { gm: gm.cpuCores, baseline: base.cpuCores },
    },
  }));
});

/** Runs `fn` with a group server of each mode in `modes` running (named label, label-curve). */
async function withGroups<T>(
  label: string,
  modes: readonly Security[],
  fn: (groups: BySecurity<string>) => Promise<T>,
  running: BySecurity<string> = {},
): Promise<T> {
  const [mode, ...rest] = modes;
  if (mode === undefined) return fn(running);
  return withGroup(
    named(label, mode),
    freshDataDir(named(label, mode)),
    (_server, group) => withGroups(label, rest, fn, { ...running, [mode]: group }),
    mode,
  );
}

/**
 * The one-shot commands, whole process, against running group servers: `gm user send` in each
 * mode and `gm --help` (those that are wanted) interleaved with `node -e 0`, after one untimed
 * round. Shared by the oneshot and help rows.
 *
 * The insecure user has GM_INSECURE=1 and a home of its own; the secure one runs as gm does by
 * default on one machine: its GM_HOME is the servers', where it finds the directory's key (and
 * makes its profile key on `gm user join`, untimed), so each timed send loads its keys, looks the
 * group up in the directory and sends over CURVE with its proof.
 */
const cliRuns = lazy(() =>
  withGroups("oneshot", want("oneshot") ? MODES : [], async (groups) => {
    const cliEnv = (s: Security): NodeJS.ProcessEnv =>
      s === "curve"
        ? { ...env, GM_SERVER: directories.curve?.endpoint as string }
        : {
            ...env,
            GM_HOME: path.join(root, "cli-home"),
            GM_SERVER: directories.insecure?.endpoint as string,
            GM_INSECURE: "1",
          };
    const text = "x".repeat(100);
    const sends = Object.entries(groups) as Array<[Security, string]>;
    for (const [s, group] of sends) {
      const join = await timedRun([BIN, "user", "join", group], cliEnv(s));
      if (join.code !== 0) throw new Error(`gm user join (${s}): exit ${join.code}: ${join.stderr}`);
    }
    const runs = { node: [] as number[], send: {} as BySecurity<number[]>, help: [] as number[] };
    // One untimed round first (file cache), then interleaved rounds so drift hits all alike.
    for (let i = 0; i <= ONESHOT_RUNS; i++) {
      const n = await timedRun(["-e", "0"], cliEnv("insecure"));
      const timed: Array<[Security, number]> = [];
      for (const [s, group] of sends) {
        const r = await timedRun([BIN, "user", "send", group, text], cliEnv(s));
        if (r.code !== 0) throw new Error(`gm user send (${s}): exit ${r.code}: ${r.stderr}`);
        // Each mode is what it says: only the insecure one warns that it is plain text.
        if (r.stderr.includes("--insecure") !== (s === "insecure")) {
          throw new Error(`gm user send (${s}): unexpected stderr: ${r.stderr}`);
        }
        timed.push([s, r.wallMs]);
      }
      const h = want("help") ? await timedRun([BIN, "--help"], cliEnv("insecure")) : undefined;
      if (h !== undefined && h.code !== 0) throw new Error(`gm --help: exit ${h.code}: ${h.stderr}`);
      if (i === 0) continue;
      runs.node.push(n.wallMs);
      for (const [s, ms] of timed) runs.send[s] = [...(runs.send[s] ?? []), ms];
      if (h !== undefined) runs.help.push(h.wallMs);
    }
    return {
      send: perMode(runs.send, (gm) => ({ gm, node: runs.node })),
      help: { gm: runs.help, node: runs.node },
    };
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

/** A `gm user send` row: the mode's one-shot sends, and what security costs (p50 over p50). */
function cliSendRow(runs: Awaited<ReturnType<typeof cliRuns>>, s: Security): Measured {
  const { insecure, curve } = runs.send;
  return {
    ...cliRow(only1(runs.send, s)),
    ...(insecure !== undefined &&
      curve !== undefined && {
        securityCost: { gm: summarize(curve.gm).p50 / summarize(insecure.gm).p50, raw: null },
      }),
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

/** History pages from the large group, one at a time, for SECONDS, with the mode's echo first. */
async function historyPages(
  server: GmProcess,
  group: string,
  s: Security,
): Promise<{ h: HistoryResult; e: EchoResult }> {
  const e = await echo1[s]();
  const h = await gmRequests({
    ...on(server, group),
    clients: 1,
    window: 1,
    seconds: SECONDS,
    mode: "history",
    historyMax: BIG,
    limit: 100,
  });
  return { h, e };
}

/** A history row: the mode's page latency at `q` against its echo's, and what security costs. */
async function historyRow(s: Security, q: "p50" | "p99"): Promise<Measured> {
  const { history } = await bigGroupSession();
  const { h, e } = settled(history[s]);
  const [plain, curve] = [history.insecure, history.curve];
  const other = q === "p50" ? "p99" : "p50";
  return {
    value: h[q],
    baseline: e[q] ?? Number.NaN,
    ...(plain?.ok === true &&
      curve?.ok === true && {
        securityCost: {
          gm: curve.value.h[q] / plain.value.h[q],
          raw: (curve.value.e[q] ?? Number.NaN) / (plain.value.e[q] ?? Number.NaN),
        },
      }),
    details: { ...historyDetails(h, e), [`gm${other === "p50" ? "P50" : "P99"}`]: h[other] },
  };
}

/**
 * The large group's servers. First, when the CURVE history rows are wanted, a secure `gm group` on
 * it serves the CURVE history pages and stops. Then one insecure `gm group` on it serves, in this
 * order, the insecure history pages, the ingest rounds (alternating with the small group's server)
 * and then the memory row, which reads the peak RSS of that server after both. (The secure server
 * goes first so that both history measurements read the same million messages: ingest adds to
 * them.) Shared by the history, ingest and memory rows; each wanted part is measured, and a part
 * that fails fails its rows only.
 */
const bigGroupSession = lazy(async () => {
  const big = await bigGroup();
  const history: BySecurity<Part<{ h: HistoryResult; e: EchoResult }>> = {};
  if (want("history") && MODES.includes("curve")) {
    history.curve = await part(() =>
      withGroup("big", big.dataDir, (server, group) => historyPages(server, group, "curve"), "curve"),
    );
  }
  const t0 = Date.now();
  return withGroup("big", big.dataDir, async (server, group) => {
    const startMs = Date.now() - t0;
    const afterStart = server.memory();
    if (want("history") && MODES.includes("insecure")) {
      history.insecure = await part(() => historyPages(server, group, "insecure"));
    }
    const ingest = want("ingest")
      ? await part(async (): Promise<Measured> => {
          const { dataDir } = await smallGroup();
          // Alternating pairs as for the send workloads: the small group's server, then the big one.
          const rs = await rounds(
            "ingest",
            ["insecure"],
            () =>
              withGroup("ingest-small", dataDir, (small, smallGroupName) =>
                gmRequests({ ...on(small, smallGroupName), clients: 1, window: 100, seconds: SECONDS }),
              ),
            () => gmRequests({ ...on(server, group), clients: 1, window: 100, seconds: SECONDS }),
            (b, g) => ({ value: g.value, baseline: b.value }),
          );
          const { gm: r, base, rounds: each } = only1(rs.by, "insecure");
          return {
            value: r.value,
            baseline: base.value,
            server: serverFigures(r),
            details: { rounds: each, p50: r.p50, p99: r.p99, serverCpuUsPerMessage: r.serverCpuUsPerRequest },
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
    // The insecure directory always: the ingest, memory and disk rows are measured insecure.
    for (const s of SECURITIES) {
      if (s === "insecure" || MODES.includes(s)) {
        directories[s] = await startDirectory(freshDataDir(`directory-${s}`), { env, security: s });
      }
    }
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
    for (const d of Object.values(directories)) await d.stop(5000);
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
    // What is in them says who left them (a process that wrote after the clean-up, say).
    for (const d of leftDirs) {
      try {
        for (const e of fs.readdirSync(d, { recursive: true }).slice(0, 20))
          progress(`  left: ${path.join(d, String(e))}`);
      } catch {
        // Gone meanwhile.
      }
    }
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
    r.securityCost === undefined ? "" : costText(r.securityCost),
    r.server === undefined ? "" : `${fmt(r.server.cpuUsPerMessage)} us`,
    r.server?.messagesPerFsync == null ? "" : fmt(r.server.messagesPerFsync),
  ]);
  const out: string[] = [];
  out.push("");
  out.push(
    table(
      ["workload", "gm", "baseline", "ratio", "target", "pass", "CURVE/insecure", "server CPU/msg", "msg/fsync"],
      lines,
    ),
  );
  out.push("");
  out.push("baselines (same machine, same run):");
  for (const r of rows) if (r.baselineOf !== "") out.push(`  ${r.workload}: ${r.baselineOf}`);
  out.push(...floorLines(rows));
  for (const r of rows) if (r.failReason !== undefined) out.push(`FAIL ${r.workload}: ${r.failReason}`);
  for (const r of rows) if (r.error !== undefined) out.push(`ERROR ${r.workload}: ${r.error}`);
  if (rows.some((r) => r.securityCost !== undefined)) {
    out.push(
      "CURVE/insecure: the cost of security, secure gm's number over insecure gm's in the same run (median of the rounds' ratios); raw: the same for raw zeromq, CURVE over plain",
    );
  }
  if (rows.some((r) => r.server !== undefined)) {
    out.push(
      "server CPU/msg: the gm group process's user + system CPU over the measured phase per acknowledged message; msg/fsync: the messages each fdatasync of its store made durable, on average over that phase",
    );
  }
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
    securityModes: MODES,
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
