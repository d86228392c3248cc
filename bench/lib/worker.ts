/**
 * Benchmark workers: processes that run one side of a measurement and talk to the bench over
 * Node's IPC channel.
 *
 *  - parent side: `spawnWorker()` starts a benchmark process
 *    (`process.execPath --import tsx <script> ...args`) with an IPC channel, tracked by its handle
 *    (bench/lib/procs.ts) so it can always be killed (timeouts, errors, normal finish, or the
 *    parent exiting); `WorkerGroup` is a set of workers that live and die together.
 *  - child side: `runWorker()`, `workerReady()`, `workerResult()`, `onParentMessage()`,
 *    `waitForStart()`, `waitForStop()` implement the tiny protocol below.
 *
 * Protocol (Node IPC messages, plain JSON):
 *   child  -> parent  {type:"ready", data}    child has set itself up
 *   parent -> child   {type:"start", data?}   begin (a warm-up, then the measured phase)
 *   child  -> parent  {type:"warm"}           optional: warmed up, waits for `measure`
 *   parent -> child   {type:"measure"}        begin the measured phase (after every worker's `warm`)
 *   parent -> child   {type:"stop"}           end the measured phase now
 *   child  -> parent  {type:"result", data}   final numbers
 *   child  -> parent  {type:"error", message} fatal error in the child
 *
 * Children exit on their own when the IPC channel goes away (parent died), so
 * a crashed parent does not leave orphans behind. Child stdout is redirected
 * to the parent's stderr, so stdout of the parent stays clean for tables.
 */

import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import path from "node:path";
import { processCpuMs } from "../../support/gm-process.js";
import { PROJECT_ROOT } from "./paths.js";
import { stopProcess, trackProcess } from "./procs.js";

// ---------------------------------------------------------------------------
// Parent side: spawning workers
// ---------------------------------------------------------------------------

type ChildMessage =
  | { type: "ready"; data?: unknown }
  | { type: "warm" }
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
  /** Resolves once the child has warmed up (workerWarm()); then send it `{type: "measure"}`. */
  readonly warm: Promise<void>;
  /** Resolves when the child process has exited (never rejects). */
  readonly exited: Promise<void>;
  /** Send an IPC message (ignored if the channel is gone). */
  send(message: unknown): void;
  /** Kill the child by its handle: SIGTERM, then SIGKILL after `graceMs`. Resolves once it has exited. */
  kill(graceMs?: number): Promise<void>;
}

/** Environment variable carrying the child's absolute deadline (epoch ms). */
const DEADLINE_ENV = "GM_BENCH_DEADLINE_MS";

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
  trackProcess(child);

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
  let resolveWarm!: () => void;
  let rejectWarm!: (e: Error) => void;
  const warm = new Promise<void>((res, rej) => {
    resolveWarm = res;
    rejectWarm = rej;
  });
  // Avoid unhandled-rejection crashes when a caller only awaits one of them.
  ready.catch(() => {});
  result.catch(() => {});
  warm.catch(() => {});

  let readyDone = false;
  let resultDone = false;
  let warmDone = false;
  const fail = (err: Error): void => {
    if (!warmDone) {
      warmDone = true;
      rejectWarm(err);
    }
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
    void stopProcess(child, 1000);
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
    } else if (msg.type === "warm" && !warmDone) {
      warmDone = true;
      resolveWarm();
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
    warm,
    exited,
    send(message: unknown): void {
      if (child.connected) child.send(message as object, (err) => void err);
    },
    async kill(graceMs = 1000): Promise<void> {
      clearTimeout(readyTimer);
      clearTimeout(resultTimer);
      await stopProcess(child, graceMs);
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

/**
 * Tells the parent the warm-up is over and resolves when it sends `measure` (at once when run by
 * hand): the parent reads its counters between every worker's warm-up and the measured phase.
 */
export function workerWarm(): Promise<void> {
  installChildHooks();
  if (!process.send) return Promise.resolve();
  return new Promise((resolve) => {
    const handler = (raw: unknown): void => {
      if ((raw as ParentMessage).type === "measure") {
        process.off("message", handler);
        resolve();
      }
    };
    process.on("message", handler);
    void childSend({ type: "warm" });
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
