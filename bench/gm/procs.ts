/**
 * The real gm processes a benchmark runs against: `gm server` (the directory) and `gm group`, each
 * started from bin/run.js (the built dist/, as a user runs it), awaited through its ready line and
 * stopped by its handle (support/gm-process.ts, shared with the tests), and tracked so that none
 * outlives the bench (bench/lib/procs.ts). Plus the temporary directories they use, removed however
 * the run ends, and one-shot commands timed from spawn to exit.
 *
 *   gm server: directory listening on tcp://127.0.0.1:PORT (pid N); public key <Z85>
 *   gm group: serving <names> on tcp://127.0.0.1:PORT (pid N); public key <Z85>
 *
 * Each runs in one of the security modes of bench/lib/curve.ts: "curve" (gm's default: CURVE
 * keys in the data dir, the public key in the ready line and under $GM_HOME/servers/, where the
 * group server finds the directory's) or "insecure" (`--insecure`: plain text, no keys).
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { awaitReady, BIN, gmEnv, RunningProcess, runToExit } from "../../support/gm-process.js";
import type { Security } from "../lib/curve.js";
import { progress } from "../lib/output.js";
import { PROJECT_ROOT } from "../lib/paths.js";
import { trackProcess, treeMemory } from "../lib/procs.js";

export { BIN };

/** What `gm group` logs on SIGUSR2 with GM_SYNC_COUNTS=1 (src/commands/group.ts). */
const SYNC_COUNTS_LINE = "sync counts: ";
export interface SyncCounts {
  /** Writes its syncs made durable (acknowledged). */
  writes: number;
  /** fdatasyncs of the store's log (WAL), each acknowledging a group commit or more. */
  syncs: number;
  /** fdatasyncs of the high-water mark (at most five a second), acknowledging nothing. */
  markSyncs: number;
}

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
  readonly security: Security;
  /** The server's CURVE public key, from its ready line (undefined when insecure). */
  readonly publicKey: string | undefined;
  /** Current and peak resident set size, bytes, of the process and its descendants (Linux /proc). */
  memory(): { rss: number; peak: number; processes: number };
  /** CPU time used so far (user + system, all threads) by the process, ms (Linux /proc). */
  cpuMs(): number;
  /**
   * What its stores' syncs have done so far (a `gm group` started with GM_SYNC_COUNTS=1, which
   * logs them on SIGUSR2); undefined for other processes and --group-script experiments.
   */
  syncCounts(): Promise<SyncCounts | undefined>;
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
  /** Default "insecure" (`--insecure`). */
  security?: Security;
  readyTimeoutMs?: number;
}

/**
 * Runs `node [nodeArgs] bin/run.js <args>` and resolves once a stdout line matches `ready`
 * (group 1 = the endpoint). The process is tracked: killed if the benchmark exits. Once it is
 * ready, its own log goes on to our stderr (the progress stream).
 */
export async function startGm(
  label: string,
  args: readonly string[],
  ready: RegExp,
  options: StartOptions,
): Promise<GmProcess> {
  let isReady = false;
  const proc = new RunningProcess(args, {
    env: gmEnv(options.env),
    node: [...(options.nodeArgs ?? []), options.script ?? BIN],
    cwd: PROJECT_ROOT,
    stdin: "ignore",
    label,
    onOutput: (stream, chunk) => {
      if (!isReady) return;
      if (stream === "stderr") process.stderr.write(`  [${label}] ${chunk}`);
      else for (const line of chunk.split("\n")) if (line.trim() !== "") process.stderr.write(`  [${label}] ${line}\n`);
    },
  });
  trackProcess(proc.child);
  const counted = options.script === undefined && options.env.GM_SYNC_COUNTS === "1" && args[0] === "group";
  const m = await awaitReady(proc, ready, options.readyTimeoutMs ?? 60_000);
  isReady = true;
  const pid = proc.pid;
  const readyLine = proc.stdout.split("\n").find((l) => ready.test(l)) ?? m[0];
  const security = options.security ?? "insecure";
  const publicKey = / \(pid \d+\); public key (\S{40})/.exec(readyLine)?.[1];
  if (security === "curve" && publicKey === undefined) {
    await proc.stop("SIGTERM", 5000);
    throw new Error(`${label}: no public key in its ready line: ${readyLine}`);
  }
  return {
    child: proc.child,
    label,
    pid,
    endpoint: m[1] as string,
    readyLine,
    security,
    publicKey,
    memory: () => treeMemory(pid),
    cpuMs: () => proc.cpuMs(),
    syncCounts: async () => {
      if (!counted) return undefined;
      const n = proc.stdout.split(SYNC_COUNTS_LINE).length; // the lines so far, + 1
      proc.child.kill("SIGUSR2");
      const all = await proc.waitFor(new RegExp(`(?:${SYNC_COUNTS_LINE}[^\\n]*\\n[^]*?){${n}}`), 10_000);
      const m = /writes=(\d+) syncs=(\d+) markSyncs=(\d+)\n$/.exec(all[0]);
      if (m === null) throw new Error(`${label}: unreadable sync counts: ${all[0].slice(-200)}`);
      return { writes: Number(m[1]), syncs: Number(m[2]), markSyncs: Number(m[3]) };
    },
    stop: async (graceMs = 5000) => {
      await proc.stop("SIGTERM", graceMs);
    },
  };
}

/** `--insecure` for an insecure process, nothing for a secure one (gm's default). */
const securityArgs = (options: StartOptions): string[] =>
  (options.security ?? "insecure") === "insecure" ? ["--insecure"] : [];

/** `gm server --bind 127.0.0.1:0 --quiet --data-dir <dataDir> [--insecure]`. */
export async function startDirectory(dataDir: string, options: StartOptions): Promise<GmProcess> {
  const p = await startGm(
    `gm server (${options.security ?? "insecure"})`,
    ["server", "--bind", "127.0.0.1:0", "--quiet", "--data-dir", dataDir, ...securityArgs(options)],
    /directory listening on (tcp:\/\/\S+)/,
    options,
  );
  progress(`gm server (pid ${p.pid}) on ${p.endpoint}, ${p.security}`);
  return p;
}

/** `gm group --name <name> --address 127.0.0.1:0 --quiet --data-dir <dataDir> --server <directory> [--insecure]`. */
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
      ...securityArgs(options),
    ],
    /gm group: serving .* on (tcp:\/\/\S+)/,
    options,
  );
  progress(`gm group ${name} (pid ${p.pid}) on ${p.endpoint}, ${p.security}, ready after ${Date.now() - t0} ms`);
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
export async function timedRun(args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<TimedRun> {
  const r = await runToExit(args, {
    env: gmEnv(env),
    cwd: PROJECT_ROOT,
    timeoutMs,
    label: `node ${args.join(" ")}`,
    onSpawn: trackProcess,
  });
  return { wallMs: r.wallMs, code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}
