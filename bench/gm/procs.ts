/**
 * The real gm processes a benchmark runs against: `gm server` (the directory) and `gm group`, each
 * started from bin/run.js (the built dist/, as a user runs it), awaited through its ready line and
 * stopped by its handle. Plus the temporary directories they use, removed however the run ends.
 *
 *   gm server: directory listening on tcp://127.0.0.1:PORT (pid N)
 *   gm group: serving <names> on tcp://127.0.0.1:PORT (pid N)
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { progress } from "../lib/output.js";
import { PROJECT_ROOT } from "../lib/paths.js";
import { processCpuMs, stopProcess, trackProcess } from "../lib/procs.js";

export const BIN = path.join(PROJECT_ROOT, "bin", "run.js");

// ---------------------------------------------------------------------------
// Temporary directories
// ---------------------------------------------------------------------------

const tempDirs = new Set<string>();
let tempHookInstalled = false;

/** A fresh directory under os.tmpdir(), removed by removeTempDir() or, at the latest, when this process exits. */
export function makeTempDir(prefix: string): string {
  if (!tempHookInstalled) {
    tempHookInstalled = true;
    process.on("exit", () => {
      for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
    });
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Temp dirs made by makeTempDir() and not removed yet (for the leak check). */
export function liveTempDirs(): string[] {
  return [...tempDirs].filter((d) => fs.existsSync(d));
}

/** Total size in bytes of the regular files under `dir` (apparent size), and the blocks they use. */
export function diskUsage(dir: string): { bytes: number; allocated: number; files: Record<string, number> } {
  let bytes = 0;
  let allocated = 0;
  const files: Record<string, number> = {};
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    const st = fs.statSync(full);
    bytes += st.size;
    allocated += st.blocks * 512;
    files[path.relative(dir, full)] = st.size;
  }
  return { bytes, allocated, files };
}

// ---------------------------------------------------------------------------
// Long-running gm processes
// ---------------------------------------------------------------------------

export interface GmProcess {
  readonly child: ChildProcess;
  readonly label: string;
  readonly pid: number;
  /** The endpoint from the ready line. */
  readonly endpoint: string;
  /** The whole ready line. */
  readonly readyLine: string;
  /** Current and peak resident set size, bytes, of the process and its descendants (Linux /proc). */
  memory(): { rss: number; peak: number; processes: number };
  /** CPU time used so far (user + system, all threads) by the process, ms (Linux /proc). */
  cpuMs(): number;
  /** SIGTERM (a clean shutdown), SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  /** Environment on top of process.env (GM_HOME should point into a temp dir). */
  env: NodeJS.ProcessEnv;
  /** Extra node options, e.g. ["--cpu-prof", "--cpu-prof-dir=..."]. */
  nodeArgs?: readonly string[];
  /** Run this script instead of bin/run.js, with the same arguments (experiments). */
  script?: string;
  readyTimeoutMs?: number;
}

function gmEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1", ...extra };
  delete env.FORCE_COLOR;
  delete env.GM_PROFILE;
  return env;
}

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
function treeMemory(pid: number): { rss: number; peak: number; processes: number } {
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

/**
 * Runs `node [nodeArgs] bin/run.js <args>` and resolves once a stdout line matches `ready`
 * (group 1 = the endpoint). The process is tracked: killed if the benchmark exits.
 */
export function startGm(
  label: string,
  args: readonly string[],
  ready: RegExp,
  options: StartOptions,
): Promise<GmProcess> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), options.script ?? BIN, ...args], {
    cwd: PROJECT_ROOT,
    env: gmEnv(options.env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  trackProcess(child);
  const timeoutMs = options.readyTimeoutMs ?? 60_000;
  return new Promise<GmProcess>((resolve, reject) => {
    let out = "";
    let err = "";
    let done = false;
    const finish = (e: Error | undefined, endpoint?: string, readyLine = ""): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (e !== undefined) {
        void stopProcess(child, 1000).then(() => reject(e));
        return;
      }
      const pid = child.pid as number;
      resolve({
        child,
        label,
        pid,
        endpoint: endpoint as string,
        readyLine,
        memory: () => treeMemory(pid),
        cpuMs: () => processCpuMs(pid),
        stop: (graceMs = 5000) => stopProcess(child, graceMs),
      });
    };
    const timer = setTimeout(
      () => finish(new Error(`${label}: no ready line after ${timeoutMs} ms\n${out}${err}`)),
      timeoutMs,
    );
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (chunk: string) => {
      if (done) {
        // After the ready line: pass the server's own log on to our stderr (progress stream).
        for (const line of chunk.split("\n")) if (line.trim() !== "") process.stderr.write(`  [${label}] ${line}\n`);
        return;
      }
      out += chunk;
      const m = ready.exec(out);
      if (m !== null) {
        finish(undefined, m[1], out.split("\n").find((l) => ready.test(l)) ?? m[0]);
      }
    });
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      err += chunk;
      if (done) process.stderr.write(`  [${label}] ${chunk}`);
    });
    child.once("error", (e) => finish(new Error(`${label}: ${e.message}`)));
    child.once("exit", (code, signal) =>
      finish(new Error(`${label}: exited (code ${String(code)}, signal ${String(signal)}) before ready\n${out}${err}`)),
    );
  });
}

/** `gm server --bind 127.0.0.1:0 --quiet`. */
export async function startDirectory(options: StartOptions): Promise<GmProcess> {
  const p = await startGm(
    "gm server",
    ["server", "--bind", "127.0.0.1:0", "--quiet"],
    /directory listening on (tcp:\/\/\S+)/,
    options,
  );
  progress(`gm server (pid ${p.pid}) on ${p.endpoint}`);
  return p;
}

/** `gm group --name <name> --address 127.0.0.1:0 --quiet --data-dir <dataDir> --server <directory>`. */
export async function startGroup(
  name: string,
  dataDir: string,
  directory: string,
  options: StartOptions,
): Promise<GmProcess> {
  const t0 = Date.now();
  const p = await startGm(
    `gm group ${name}`,
    [
      ...(options.script === undefined ? ["group"] : []),
      "--name",
      name,
      "--address",
      "127.0.0.1:0",
      "--quiet",
      "--data-dir",
      dataDir,
      "--server",
      directory,
    ],
    /gm group: serving .* on (tcp:\/\/\S+)/,
    options,
  );
  progress(`gm group ${name} (pid ${p.pid}) on ${p.endpoint}, ready after ${Date.now() - t0} ms`);
  return p;
}

// ---------------------------------------------------------------------------
// One-shot commands
// ---------------------------------------------------------------------------

export interface TimedRun {
  wallMs: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `process.execPath <args>` to completion; wall time from spawn to exit, ms. */
export function timedRun(args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<TimedRun> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, args, {
      cwd: PROJECT_ROOT,
      env: gmEnv(env),
      stdio: ["ignore", "pipe", "pipe"],
    });
    trackProcess(child);
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8");
    child.stderr?.setEncoding("utf8");
    child.stdout?.on("data", (d: string) => (stdout += d));
    child.stderr?.on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`node ${args.join(" ")}: not done after ${timeoutMs} ms`));
    }, timeoutMs);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once("exit", (code) => {
      const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
      clearTimeout(timer);
      // 'exit' can come before the pipes are drained; 'close' follows shortly.
      child.once("close", () => resolve({ wallMs, code, stdout, stderr }));
    });
  });
}
