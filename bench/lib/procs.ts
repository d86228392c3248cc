/**
 * The child processes of the bench, tracked by their handles: every process it starts (workers and
 * gm servers) is SIGKILLed if the bench exits or is interrupted, counted until it has exited (the
 * leak check at the end of a run), and stopped with SIGTERM, then SIGKILL after a grace period.
 * Plus what Linux's /proc says about a process: the CPU used between two snapshots, and the
 * resident memory of a process tree.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";

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

/** Current and peak resident set size of one process, bytes (Linux /proc). */
function readProcStatus(pid: number): { rss: number; peak: number } {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (key: string): number =>
      Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
    return { rss: kb("VmRSS") * 1024, peak: kb("VmHWM") * 1024 };
  } catch {
    return { rss: Number.NaN, peak: Number.NaN };
  }
}

/** `pid` and every process below it (children, grandchildren...), from /proc. */
function processTree(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parentOf) if (parent === tree[i]) tree.push(child);
  }
  return tree;
}

/**
 * Resident memory of a process and everything it started (so a server that re-executes itself
 * or forks helpers is measured whole): current RSS summed, and the sum of each process's peak.
 */
export function treeMemory(pid: number): { rss: number; peak: number; processes: number } {
  const tree = processTree(pid);
  let rss = 0;
  let peak = 0;
  for (const p of tree) {
    const m = readProcStatus(p);
    if (Number.isFinite(m.rss)) rss += m.rss;
    if (Number.isFinite(m.peak)) peak += m.peak;
  }
  return { rss, peak, processes: tree.length };
}
