/**
 * Running gm as users and operators do: `node bin/run.js ...` as a child process. Shared by the
 * end-to-end tests (test/helpers/gm.ts) and the bench (bench/gm/procs.ts), so both start, await
 * and stop gm the same way:
 *
 *  - `RunningProcess`: a long-running process (a server, a group, a shell) whose output is kept;
 *    `waitFor()` waits for a line on stdout, racing the process's exit and a deadline; `stop()`
 *    sends a signal by the process's handle and SIGKILLs it after a grace period.
 *  - `awaitReady()`: the same wait for a ready line, but a process that never gets ready is
 *    stopped before the error is thrown, so a failed start leaves nothing running.
 *  - `runToExit()`: a one-shot command, with its exit code, output and wall time.
 *  - `processCpuMs()`: the CPU a process has used so far (Linux /proc).
 *
 * It lives outside test/ and bench/ because both use it and neither should import the other's
 * private helpers. Nothing here knows about a test framework or about measuring.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

/** The project's root directory (support/ -> ..). */
export const ROOT: string = path.resolve(import.meta.dirname, "..");

/** The gm executable as users run it (the built dist/). */
export const BIN: string = path.join(ROOT, "bin", "run.js");

/**
 * The environment of a gm child: process.env, then `extra`, with colours off and without the
 * variables that would point it at the developer's own profile (plus any named in `drop`).
 */
export function gmEnv(extra: NodeJS.ProcessEnv, drop: readonly string[] = []): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1", ...extra };
  for (const name of ["FORCE_COLOR", "GM_PROFILE", ...drop]) delete env[name];
  return env;
}

export interface ProcessOptions {
  /** The whole environment of the process (see gmEnv). */
  env: NodeJS.ProcessEnv;
  /** What follows `node` before the command's arguments. Default: [BIN]. */
  node?: readonly string[];
  /** Runs the command under another one, e.g. `["ip", "netns", "exec", "ns1"]`. */
  prefix?: readonly string[];
  cwd?: string;
  /** "pipe" (default) lets `write()` feed the process; "ignore" gives it no stdin. */
  stdin?: "pipe" | "ignore";
  /** Named in error messages. Default: "process". */
  label?: string;
  /** Called with each chunk of output as it arrives (it is kept in stdout/stderr as well). */
  onOutput?: (stream: "stdout" | "stderr", chunk: string) => void;
}

/** A long-running child process whose stdout and stderr are kept. */
export class RunningProcess {
  stdout = "";
  stderr = "";
  /** Resolves with the exit code (null when a signal ended it) once the process has exited. */
  readonly exited: Promise<number | null>;
  readonly child: ChildProcess;
  readonly label: string;
  private readonly waiters: Array<() => void> = [];

  constructor(args: readonly string[], options: ProcessOptions) {
    this.label = options.label ?? "process";
    const [cmd, ...rest] = [...(options.prefix ?? []), process.execPath, ...(options.node ?? [BIN]), ...args] as [
      string,
      ...string[],
    ];
    this.child = spawn(cmd, rest, {
      env: options.env,
      ...(options.cwd !== undefined && { cwd: options.cwd }),
      stdio: [options.stdin ?? "pipe", "pipe", "pipe"],
    });
    const onOutput = options.onOutput;
    this.child.stdout?.setEncoding("utf8");
    this.child.stdout?.on("data", (chunk: string) => {
      this.stdout += chunk;
      onOutput?.("stdout", chunk);
      this.wake();
    });
    this.child.stderr?.setEncoding("utf8");
    this.child.stderr?.on("data", (chunk: string) => {
      this.stderr += chunk;
      onOutput?.("stderr", chunk);
      this.wake();
    });
    this.exited = new Promise((resolve) => {
      this.child.once("exit", (code) => {
        resolve(code);
        this.wake();
      });
    });
    // A failed spawn (no such command) ends like an exit: waitFor() then fails at once.
    this.child.once("error", (err) => {
      this.stderr += `${this.label}: ${err.message}\n`;
      this.wake();
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && this.child.pid !== undefined;
  }

  /**
   * Waits until stdout (or `stream`) matches `pattern`; fails if the process exits first or the
   * deadline passes.
   */
  async waitFor(
    pattern: RegExp,
    timeoutMs = 15_000,
    stream: "stdout" | "stderr" = "stdout",
  ): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this[stream].match(pattern);
      if (m !== null) return m;
      if (!this.running) {
        const how = `code ${String(this.child.exitCode)}, signal ${String(this.child.signalCode)}`;
        throw new Error(`${this.label} exited (${how}) before printing ${pattern}\n${this.stdout}\n${this.stderr}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.label}: timed out waiting for ${pattern}\n${this.stdout}\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Writes a line to the process's stdin (for the shell). */
  write(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  /** CPU time used so far (user + system, all threads) by the process, ms (Linux /proc). */
  cpuMs(): number {
    return processCpuMs(this.pid);
  }

  /** Sends `signal` and waits for the exit; SIGKILL after `graceMs`. Resolves with the exit code. */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 5000): Promise<number | null> {
    if (!this.running) return this.exited;
    this.child.stdin?.end();
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/**
 * Waits for `proc`'s ready line (see waitFor); if it does not come, the process is stopped
 * (SIGTERM, SIGKILL after 1 s) before the error is thrown.
 */
export async function awaitReady(proc: RunningProcess, pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  try {
    return await proc.waitFor(pattern, timeoutMs);
  } catch (err) {
    await proc.stop("SIGTERM", 1000);
    throw err;
  }
}

export interface RunResult {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** The whole environment of the process (see gmEnv). */
  env: NodeJS.ProcessEnv;
  /** SIGKILLed after this long, which rejects the promise. */
  timeoutMs: number;
  /** Written to stdin, which is then closed. Without it the process has no stdin at all. */
  input?: string;
  cwd?: string;
  /** Named in the timeout error. */
  label: string;
  /** Called with the child right after it is spawned (e.g. to track it). */
  onSpawn?: (child: ChildProcess) => void;
}

/**
 * Runs `node <argv>` to completion. `wallMs` is the time from spawn to the process's exit (not
 * to the end of its output, which can come a little later).
 */
export function runToExit(argv: readonly string[], options: RunOptions): Promise<RunResult & { wallMs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, argv, {
      env: options.env,
      ...(options.cwd !== undefined && { cwd: options.cwd }),
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    options.onSpawn?.(child);
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8");
    child.stderr?.setEncoding("utf8");
    child.stdout?.on("data", (d: string) => (stdout += d));
    child.stderr?.on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${options.label} did not finish in ${options.timeoutMs} ms\n${stdout}\n${stderr}`));
    }, options.timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("exit", (exitCode) => {
      const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
      clearTimeout(timer);
      // 'exit' can come before the pipes are drained; 'close' follows once they are.
      child.once("close", () => resolve({ exitCode, stdout, stderr, wallMs }));
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
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
