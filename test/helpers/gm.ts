/**
 * Helpers that run the real `bin/run.js` as users and operators would: long-running servers
 * awaited through their ready line, and one-shot commands with their exit code and output. The
 * process handling itself (spawn, wait for a line racing the exit, stop with a grace period) is
 * support/gm-process.ts, shared with the bench; this file gives it the tests' defaults.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { awaitReady, BIN, gmEnv, RunningProcess, type RunResult, runToExit } from "../../support/gm-process.js";

export { BIN, type RunResult };

/** A temporary GM_HOME, removed by the returned cleanup. */
export function tempHome(): { home: string; cleanup: () => void } {
  const home = mkdtempSync(join(tmpdir(), "gm-test-"));
  return { home, cleanup: () => rmSync(home, { recursive: true, force: true }) };
}

/** A test's gm never sees the developer's GM_SERVER: each test names its directory itself. */
export const baseEnv = (extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv => gmEnv(extra, ["GM_SERVER"]);

/** Runs one gm command to completion (killed after `timeoutMs`, which then fails the caller). */
export async function gm(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const { exitCode, stdout, stderr } = await runToExit([BIN, ...args], {
    env: baseEnv(options.env ?? {}),
    input: options.input ?? "",
    timeoutMs: options.timeoutMs ?? 20_000,
    label: `gm ${args.join(" ")}`,
  });
  return { exitCode, stdout, stderr };
}

/** A long-running gm process (server, group, up). */
export class GmProcess extends RunningProcess {
  /**
   * `prefix` runs the command under another one, e.g. `["ip", "netns", "exec", "ns1"]`; `script`
   * replaces bin/run.js (a test helper program run with tsx).
   */
  constructor(
    args: readonly string[],
    env: NodeJS.ProcessEnv = {},
    options: { prefix?: readonly string[]; script?: string } = {},
  ) {
    super(args, {
      env: baseEnv(env),
      label: options.script === undefined ? `gm ${args[0] ?? ""}` : options.script,
      ...(options.script !== undefined && { node: ["--import", "tsx", options.script] }),
      ...(options.prefix !== undefined && { prefix: options.prefix }),
    });
  }
}

/** A server's ready line: its endpoint, and its public key unless it runs --insecure. */
const READY_KEY = / \(pid \d+\); (?:public key (\S{40})|INSECURE)/;

/**
 * Starts `gm server` on a free loopback port and returns it with its endpoint and public key
 * (`GM_SERVER_KEY` for clients whose GM_HOME is not the server's); `prefix` runs it under another
 * command (`prlimit --nofile=…`).
 */
export async function startDirectory(
  env: NodeJS.ProcessEnv,
  extra: readonly string[] = [],
  bind = "127.0.0.1:0",
  prefix?: readonly string[],
): Promise<{ proc: GmProcess; endpoint: string; key: string }> {
  const proc = new GmProcess(["server", "--bind", bind, ...extra], env, prefix === undefined ? {} : { prefix });
  const m = await awaitReady(proc, new RegExp(`listening on (tcp:\\/\\/\\S+)${READY_KEY.source}`), 15_000);
  return { proc, endpoint: m[1] as string, key: m[2] ?? "" };
}

/** Starts `gm group` for `names` and returns it with its endpoint once it serves. */
export async function startGroup(
  names: readonly string[],
  options: { env: NodeJS.ProcessEnv; server: string; address?: string; dataDir: string; extra?: readonly string[] },
): Promise<{ proc: GmProcess; endpoint: string; key: string }> {
  const args = ["group", ...names.flatMap((n) => ["--name", n])];
  args.push("--address", options.address ?? "127.0.0.1:0", "--server", options.server, "--data-dir", options.dataDir);
  args.push(...(options.extra ?? []));
  const proc = new GmProcess(args, options.env);
  const m = await awaitReady(proc, new RegExp(`serving .* on (tcp:\\/\\/\\S+)${READY_KEY.source}`), 15_000);
  return { proc, endpoint: m[1] as string, key: m[2] ?? "" };
}

/** A process's resident memory in MB, from /proc (the memory tests' measure). */
export function rssMb(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kb) / 1024;
}
