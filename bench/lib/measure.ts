/**
 * Measurement helpers shared by every benchmark program.
 *
 * Two halves:
 *  - parent side: `spawnWorker()` starts a benchmark process
 *    (`process.execPath --import tsx <script> ...args`) with an IPC channel,
 *    and keeps a handle on it so it can always be killed (timeouts, errors,
 *    normal finish, or the parent exiting).
 *  - child side: `workerReady()`, `workerResult()`, `onParentMessage()`,
 *    `waitForStart()` implement the tiny protocol below.
 *
 * Protocol (Node IPC messages, plain JSON):
 *   child  -> parent  {type:"ready", data}    child has set itself up
 *   parent -> child   {type:"start", data?}   begin the measured phase
 *   parent -> child   {type:"stop"}           end the measured phase now
 *   child  -> parent  {type:"result", data}   final numbers
 *   child  -> parent  {type:"error", message} fatal error in the child
 *
 * Children exit on their own when the IPC channel goes away (parent died), so
 * a crashed parent does not leave orphans behind. Child stdout is redirected
 * to the parent's stderr, so stdout of the parent stays clean for tables.
 *
 * Units: latencies are recorded in microseconds (floating point) everywhere.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

/** Root of the project (bench/lib/ -> ../..); children run with this cwd so `--import tsx` resolves. */
export const PROJECT_ROOT: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Absolute path of a file under bench/, given relative to bench/. */
export function benchPath(relative: string): string {
  return path.join(PROJECT_ROOT, "bench", relative);
}

// ---------------------------------------------------------------------------
// Timing
// ---------------------------------------------------------------------------

/** Monotonic high-resolution clock, nanoseconds (process-local origin). */
export function nowNs(): bigint {
  return process.hrtime.bigint();
}

/** Microseconds elapsed since `startNs` (from `nowNs()`). */
export function elapsedUs(startNs: bigint): number {
  return Number(process.hrtime.bigint() - startNs) / 1_000;
}

/** Milliseconds elapsed since `startNs` (from `nowNs()`). */
export function elapsedMs(startNs: bigint): number {
  return Number(process.hrtime.bigint() - startNs) / 1_000_000;
}

/**
 * Wall-clock time in milliseconds with sub-millisecond resolution, comparable
 * across processes on the same machine: `performance.timeOrigin` is the wall
 * clock at process start, `performance.now()` the monotonic time since then.
 * Use this (not hrtime) for send-timestamps read by another process.
 */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------

/**
 * Percentile by the nearest-rank method on an ascending-sorted array.
 * `p` is in [0, 100]. Returns NaN for an empty array.
 */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n)));
  return sorted[rank - 1] ?? Number.NaN;
}

/** Percentile of an unsorted array (copied and sorted; input untouched). */
export function percentile(values: ArrayLike<number>, p: number): number {
  return percentileSorted(sortedCopy(values), p);
}

function sortedCopy(values: ArrayLike<number>): Float64Array {
  const copy = Float64Array.from(values);
  copy.sort(); // typed-array sort is numeric
  return copy;
}

export interface Summary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

/** count/min/mean/p50/p99/max of an array of samples (same unit in, same unit out). */
export function summarize(values: ArrayLike<number>): Summary {
  const sorted = sortedCopy(values);
  const n = sorted.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i] ?? 0;
  return {
    count: n,
    min: n > 0 ? (sorted[0] ?? Number.NaN) : Number.NaN,
    mean: n > 0 ? sum / n : Number.NaN,
    p50: percentileSorted(sorted, 50),
    p99: percentileSorted(sorted, 99),
    max: n > 0 ? (sorted[n - 1] ?? Number.NaN) : Number.NaN,
  };
}

/** Growable Float64 sample buffer: cheaper than number[] for 1e5..1e7 samples. */
export class Samples {
  private buf: Float64Array;
  private len = 0;

  constructor(initialCapacity = 1 << 14) {
    this.buf = new Float64Array(Math.max(16, initialCapacity));
  }

  push(v: number): void {
    if (this.len === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.len++] = v;
  }

  get length(): number {
    return this.len;
  }

  /** A view of the recorded samples (no copy). */
  values(): Float64Array {
    return this.buf.subarray(0, this.len);
  }

  /** Plain array, for sending over IPC (JSON). */
  toArray(): number[] {
    return Array.from(this.values());
  }
}

// ---------------------------------------------------------------------------
// Progress / output
// ---------------------------------------------------------------------------

/** Progress line to stderr (stdout is reserved for results). */
export function progress(message: string): void {
  const t = new Date().toISOString().slice(11, 23);
  process.stderr.write(`[${t}] ${message}\n`);
}

/** Round to a sensible number of significant digits for display. */
export function fmt(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return "-";
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString("en-US");
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** Render rows as a plain-text table. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/**
 * CPU time (user + system, all threads) used so far by process `pid`, ms; NaN where /proc is not
 * available or the process is gone.
 */
export function processCpuMs(pid: number): number {
  try {
    // After "(comm)": field 3 is the state; utime and stime are fields 14 and 15, in clock ticks.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(rest[11]) + Number(rest[12])) * 1000) / 100; // USER_HZ = 100 on Linux
  } catch {
    return Number.NaN;
  }
}

/** CPU used between two `cpuMs()` snapshots, summed over the labels matching `filter`, ms. */
export function cpuBetween(
  before: Map<string, number>,
  after: Map<string, number>,
  filter: (label: string) => boolean,
): number {
  let total = 0;
  for (const [label, ms] of after) if (filter(label)) total += ms - (before.get(label) ?? ms);
  return total;
}

// ---------------------------------------------------------------------------
// Parent side: spawning and tracking workers
// ---------------------------------------------------------------------------

type ChildMessage =
  | { type: "ready"; data?: unknown }
  | { type: "result"; data?: unknown }
  | { type: "error"; message: string };

export interface SpawnOptions {
  /** Reject `ready` (and kill the child) after this long. Default 20 s. */
  readyTimeoutMs?: number;
  /** Reject `result` (and kill the child) after this long from spawn. Default 120 s. */
  resultTimeoutMs?: number;
  /** Short label used in progress/error messages. Default: script basename. */
  label?: string;
}

export interface Worker<Ready = unknown, Result = unknown> {
  readonly child: ChildProcess;
  readonly label: string;
  /** Resolves with the child's `ready` payload. */
  readonly ready: Promise<Ready>;
  /** Resolves with the child's `result` payload. */
  readonly result: Promise<Result>;
  /** Resolves when the child process has exited (never rejects). */
  readonly exited: Promise<void>;
  /** Send an IPC message (ignored if the channel is gone). */
  send(message: unknown): void;
  /** Kill the child by its handle: SIGTERM, then SIGKILL after `graceMs`. Resolves once it has exited. */
  kill(graceMs?: number): Promise<void>;
}

/** Environment variable carrying the child's absolute deadline (epoch ms). */
const DEADLINE_ENV = "GM_BENCH_DEADLINE_MS";

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous; child.kill() is a plain kill(2).
  process.on("exit", () => {
    for (const c of liveChildren) c.kill("SIGKILL");
  });
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(sig, () => {
      for (const c of liveChildren) c.kill("SIGKILL");
      process.exit(128 + (sig === "SIGINT" ? 2 : sig === "SIGTERM" ? 15 : 1));
    });
  }
}

/** Number of spawned children that have not exited yet (for leak checks). */
export function liveWorkerCount(): number {
  return liveChildren.size;
}

/** Kill every still-running child spawned by this process (by handle), and wait for them. */
export async function killAllWorkers(graceMs = 1000): Promise<void> {
  await Promise.all([...liveChildren].map((c) => killChild(c, graceMs)));
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

const killing = new WeakMap<ChildProcess, Promise<void>>();

/** SIGTERM, then SIGKILL after `graceMs`; idempotent (one signal sequence per child). */
function killChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (hasExited(child)) return Promise.resolve();
  const pending = killing.get(child);
  if (pending) return pending;
  const p = new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      if (!hasExited(child)) child.kill("SIGKILL");
    }, graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
  killing.set(child, p);
  return p;
}

/**
 * Track a child process started some other way (e.g. a `gm` server run from
 * bin/run.js, without IPC): it is SIGKILLed if this process exits, and counted
 * by liveWorkerCount() until it has exited.
 */
export function trackProcess(child: ChildProcess): void {
  installExitHook();
  if (hasExited(child)) return;
  liveChildren.add(child);
  child.once("exit", () => liveChildren.delete(child));
}

/** Stop a child by its handle: SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
export function stopProcess(child: ChildProcess, graceMs = 1000): Promise<void> {
  return killChild(child, graceMs);
}

/**
 * Spawn `process.execPath --import tsx <scriptPath> ...args` with an IPC
 * channel. The returned promises settle from the child's messages; if the
 * child exits, errors or times out first they reject and the child is killed.
 */
export function spawnWorker<Ready = unknown, Result = unknown>(
  scriptPath: string,
  args: readonly string[] = [],
  options: SpawnOptions = {},
): Worker<Ready, Result> {
  installExitHook();
  const label = options.label ?? path.basename(scriptPath);
  const readyTimeoutMs = options.readyTimeoutMs ?? 20_000;
  const resultTimeoutMs = options.resultTimeoutMs ?? 120_000;

  const child = spawn(process.execPath, ["--import", "tsx", scriptPath, ...args], {
    cwd: PROJECT_ROOT,
    // stdin ignored, child stdout+stderr -> our stderr, IPC channel as fd 3.
    stdio: ["ignore", 2, 2, "ipc"],
    serialization: "json",
    // Hard lifetime limit enforced by the child itself (see installChildHooks),
    // in case this process dies without being able to kill it.
    env: { ...process.env, [DEADLINE_ENV]: String(Date.now() + resultTimeoutMs + 15_000) },
  });
  liveChildren.add(child);

  let resolveReady!: (v: Ready) => void;
  let rejectReady!: (e: Error) => void;
  let resolveResult!: (v: Result) => void;
  let rejectResult!: (e: Error) => void;
  const ready = new Promise<Ready>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  const result = new Promise<Result>((res, rej) => {
    resolveResult = res;
    rejectResult = rej;
  });
  // Avoid unhandled-rejection crashes when a caller only awaits one of them.
  ready.catch(() => {});
  result.catch(() => {});

  let readyDone = false;
  let resultDone = false;
  const fail = (err: Error): void => {
    if (!readyDone) {
      readyDone = true;
      rejectReady(err);
    }
    if (!resultDone) {
      resultDone = true;
      rejectResult(err);
    }
    clearTimeout(readyTimer);
    clearTimeout(resultTimer);
    // SIGTERM first so the child can clean up (e.g. remove its temp dir), SIGKILL after 1 s.
    void killChild(child, 1000);
  };

  const readyTimer = setTimeout(() => {
    if (!readyDone) fail(new Error(`${label}: not ready after ${readyTimeoutMs} ms`));
  }, readyTimeoutMs);
  const resultTimer = setTimeout(() => {
    if (!resultDone) fail(new Error(`${label}: no result after ${resultTimeoutMs} ms`));
  }, resultTimeoutMs);
  // Timers must not keep the parent alive on their own.
  readyTimer.unref();
  resultTimer.unref();

  child.on("message", (raw: unknown) => {
    const msg = raw as ChildMessage;
    if (msg.type === "ready" && !readyDone) {
      readyDone = true;
      clearTimeout(readyTimer);
      resolveReady(msg.data as Ready);
    } else if (msg.type === "result" && !resultDone) {
      resultDone = true;
      clearTimeout(resultTimer);
      resolveResult(msg.data as Result);
    } else if (msg.type === "error") {
      fail(new Error(`${label}: ${msg.message}`));
    }
  });
  child.on("error", (err) => fail(new Error(`${label}: ${err.message}`)));

  const exited = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      liveChildren.delete(child);
      if (!readyDone || !resultDone) {
        fail(new Error(`${label}: exited (code ${String(code)}, signal ${String(signal)}) before finishing`));
      }
      resolve();
    });
  });

  return {
    child,
    label,
    ready,
    result,
    exited,
    send(message: unknown): void {
      if (child.connected) child.send(message as object, (err) => void err);
    },
    async kill(graceMs = 1000): Promise<void> {
      clearTimeout(readyTimer);
      clearTimeout(resultTimer);
      await killChild(child, graceMs);
      await exited;
    },
  };
}

/** Kill a set of workers by their handles, in parallel; never throws. */
export async function killWorkers(workers: Iterable<Worker<unknown, unknown>>, graceMs = 1000): Promise<void> {
  await Promise.all([...workers].map((w) => w.kill(graceMs)));
}

// ---------------------------------------------------------------------------
// Child side
// ---------------------------------------------------------------------------

type ParentMessage = { type: "start"; data?: unknown } | { type: "stop" } | { type: string; data?: unknown };

let childHooksInstalled = false;

function childSend(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) {
      // Not spawned by spawnWorker (run by hand): print instead.
      process.stdout.write(`${JSON.stringify(message)}\n`);
      resolve();
      return;
    }
    process.send(message, undefined, {}, () => resolve());
  });
}

/**
 * Install child-side safety hooks: exit when the parent goes away (IPC
 * disconnect), and report uncaught errors to the parent before exiting.
 * Called implicitly by the other child helpers.
 */
export function installChildHooks(): void {
  if (childHooksInstalled) return;
  childHooksInstalled = true;
  if (process.send) {
    // Parent gone: exit. If it went away before this hook was installed
    // (e.g. while modules were loading), the event has already passed.
    if (!process.connected) process.exit(0);
    process.on("disconnect", () => process.exit(0));
  }
  const deadline = Number(process.env[DEADLINE_ENV]);
  if (Number.isFinite(deadline) && deadline > 0) {
    setTimeout(
      () => {
        process.stderr.write(`${path.basename(process.argv[1] ?? "worker")}: lifetime limit reached, exiting\n`);
        process.exit(124);
      },
      Math.max(0, deadline - Date.now()),
    ).unref();
  }
  const onFatal = (err: unknown): void => {
    const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`fatal: ${message}\n`);
    void childSend({ type: "error", message: err instanceof Error ? err.message : String(err) }).finally(() =>
      process.exit(1),
    );
  };
  process.on("uncaughtException", onFatal);
  process.on("unhandledRejection", onFatal);
}

/** Subscribe to parent messages (start/stop/...). */
export function onParentMessage(handler: (msg: ParentMessage) => void): void {
  installChildHooks();
  process.on("message", (raw: unknown) => handler(raw as ParentMessage));
}

/** Tell the parent this worker is set up. */
export function workerReady(data?: unknown): Promise<void> {
  installChildHooks();
  return childSend({ type: "ready", data });
}

/** Send the final result to the parent (after releasing resources). */
export function workerResult(data: unknown): Promise<void> {
  installChildHooks();
  return childSend({ type: "result", data });
}

/** Report a fatal error to the parent. */
export function workerError(err: unknown): Promise<void> {
  return childSend({ type: "error", message: err instanceof Error ? err.message : String(err) });
}

/**
 * Resolves with the `start` payload. When run without a parent (by hand) it
 * starts immediately.
 */
export function waitForStart<T = unknown>(): Promise<T | undefined> {
  installChildHooks();
  if (!process.send) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const handler = (raw: unknown): void => {
      const msg = raw as ParentMessage;
      if (msg.type === "start") {
        process.off("message", handler);
        resolve((msg as { data?: T }).data);
      }
    };
    process.on("message", handler);
  });
}

/** Resolves when the parent sends `stop` (never resolves without a parent). */
export function waitForStop(): Promise<void> {
  installChildHooks();
  return new Promise((resolve) => {
    const handler = (raw: unknown): void => {
      if ((raw as ParentMessage).type === "stop") {
        process.off("message", handler);
        resolve();
      }
    };
    process.on("message", handler);
  });
}

/** Run a worker main function; any thrown error is reported to the parent and exits 1. */
export function runWorker(main: () => Promise<void>): void {
  installChildHooks();
  main().catch(async (err: unknown) => {
    process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await workerError(err);
    process.exit(1);
  });
}

// ---------------------------------------------------------------------------
// Parent side: a group of workers that live and die together
// ---------------------------------------------------------------------------

/**
 * A set of workers for one benchmark run. `run()` races the benchmark flow
 * against the failure of any worker in the group (early exit, error message,
 * timeout) and, whatever happens, kills every worker by its handle at the end
 * and waits for them to exit.
 */
export class WorkerGroup {
  private readonly workers: Worker<unknown, unknown>[] = [];
  private rejectFailed: (e: Error) => void = () => {};
  private readonly failed: Promise<never>;
  private settled = false;

  constructor() {
    this.failed = new Promise<never>((_, reject) => {
      this.rejectFailed = reject;
    });
    this.failed.catch(() => {});
  }

  spawn<Ready, Result>(
    scriptPath: string,
    args: readonly string[] = [],
    options: SpawnOptions = {},
  ): Worker<Ready, Result> {
    const w = spawnWorker<Ready, Result>(scriptPath, args, options);
    this.workers.push(w as Worker<unknown, unknown>);
    w.result.catch((err: unknown) => {
      if (!this.settled) this.rejectFailed(err instanceof Error ? err : new Error(String(err)));
    });
    return w;
  }

  get size(): number {
    return this.workers.length;
  }

  /** CPU time (user + system, ms) used so far by each worker still running, by label (Linux /proc). */
  cpuMs(): Map<string, number> {
    const out = new Map<string, number>();
    for (const w of this.workers) if (w.child.pid !== undefined) out.set(w.label, processCpuMs(w.child.pid));
    return out;
  }

  async run<T>(flow: () => Promise<T>, graceMs = 1000): Promise<T> {
    try {
      return await Promise.race([flow(), this.failed]);
    } finally {
      this.settled = true;
      await killWorkers(this.workers, graceMs);
    }
  }
}
