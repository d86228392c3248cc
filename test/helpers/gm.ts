/**
 * Helpers that run the real `bin/run.js` as users and operators would: long-running servers
 * awaited through their ready line, and one-shot commands with their exit code and output.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const BIN = resolve(import.meta.dirname, "../../bin/run.js");

export interface RunResult {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A temporary GM_HOME, removed by the returned cleanup. */
export function tempHome(): { home: string; cleanup: () => void } {
  const home = mkdtempSync(join(tmpdir(), "gm-test-"));
  return { home, cleanup: () => rmSync(home, { recursive: true, force: true }) };
}

function baseEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1", ...extra };
  delete env.FORCE_COLOR;
  delete env.GM_SERVER;
  delete env.GM_PROFILE;
  return env;
}

/** Runs one gm command to completion (killed after `timeoutMs`, which then fails the caller). */
export function gm(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: baseEnv(options.env ?? {}) });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(`gm ${args.join(" ")} did not finish in ${options.timeoutMs ?? 20_000} ms\n${stdout}\n${stderr}`),
      );
    }, options.timeoutMs ?? 20_000);
    child.on("error", reject);
    child.on("close", (exitCode) => {
      clearTimeout(timer);
      resolvePromise({ exitCode, stdout, stderr });
    });
    child.stdin.end(options.input ?? "");
  });
}

/** A long-running gm process (server, group, up). */
export class GmProcess {
  stdout = "";
  stderr = "";
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiters: Array<() => void> = [];

  /**
   * `prefix` runs the command under another one, e.g. `["ip", "netns", "exec", "ns1"]`; `script`
   * replaces bin/run.js (a test helper program run with tsx).
   */
  constructor(
    args: readonly string[],
    env: NodeJS.ProcessEnv = {},
    options: { prefix?: readonly string[]; script?: string } = {},
  ) {
    const node =
      options.script === undefined ? [process.execPath, BIN] : [process.execPath, "--import", "tsx", options.script];
    const [cmd, ...rest] = [...(options.prefix ?? []), ...node, ...args] as [string, ...string[]];
    this.child = spawn(cmd, rest, { env: baseEnv(env) });
    this.child.stdout.on("data", (d) => {
      this.stdout += d;
      for (const w of this.waiters.splice(0)) w();
    });
    this.child.stderr.on("data", (d) => (this.stderr += d));
    this.exited = new Promise((r) =>
      this.child.on("exit", (code) => {
        r(code);
        for (const w of this.waiters.splice(0)) w();
      }),
    );
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits until stdout matches `pattern`; fails if the process exits first or the deadline passes. */
  async waitFor(pattern: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.stdout.match(pattern);
      if (m !== null) return m;
      if (!this.running) throw new Error(`process exited before printing ${pattern}\n${this.stdout}\n${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${pattern}\n${this.stdout}\n${this.stderr}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Writes a line to the process's stdin (for the shell). */
  write(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  /** Sends a signal and waits for the exit; escalates to SIGKILL after `graceMs`. */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 5000): Promise<number | null> {
    if (!this.running) return this.exited;
    this.child.stdin.end();
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Starts `gm server` on a free loopback port and returns it with its endpoint. */
export async function startDirectory(env: NodeJS.ProcessEnv): Promise<{ proc: GmProcess; endpoint: string }> {
  const proc = new GmProcess(["server", "--bind", "127.0.0.1:0"], env);
  const m = await proc.waitFor(/listening on (tcp:\/\/\S+)/);
  return { proc, endpoint: m[1] as string };
}

/** Starts `gm group` for `names` and returns it with its endpoint once it serves. */
export async function startGroup(
  names: readonly string[],
  options: { env: NodeJS.ProcessEnv; server: string; address?: string; dataDir: string },
): Promise<{ proc: GmProcess; endpoint: string }> {
  const args = ["group", ...names.flatMap((n) => ["--name", n])];
  args.push("--address", options.address ?? "127.0.0.1:0", "--server", options.server, "--data-dir", options.dataDir);
  const proc = new GmProcess(args, options.env);
  const m = await proc.waitFor(/serving .* on (tcp:\/\/\S+)/);
  return { proc, endpoint: m[1] as string };
}
