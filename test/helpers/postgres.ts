/**
 * A throwaway PostgreSQL cluster for tests and experiments: `initdb` into a temp dir, a server on
 * a free port of 127.0.0.1 with its Unix socket in that dir, stopped by its own pid and the dir
 * removed. When the tests run as root, initdb and the server run as the unprivileged `postgres`
 * user (PostgreSQL refuses to run as root). Nothing here touches a cluster it did not make.
 *
 * Where no PostgreSQL binaries are found, {@link postgresSkip} throws (a green run must never hide
 * the PostgreSQL tests) unless GM_SKIP_POSTGRES=1 says to skip them; CI installs PostgreSQL and
 * sets GM_REQUIRE_POSTGRES=1, which makes even GM_SKIP_POSTGRES=1 fail (see .ci/run).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A running throwaway cluster. */
export interface PostgresCluster {
  readonly host: "127.0.0.1";
  readonly port: number;
  /** The directory of the server's Unix socket (the cluster's temp dir; its data is in `data/`). */
  readonly socketDir: string;
  /** A connection string for the superuser `postgres` over TCP (with the password, if one was set). */
  readonly url: string;
  /** The postmaster's pid. */
  readonly pid: number;
  /** Stops the server by its pid (fast shutdown, SIGKILL after a deadline) and removes its dir. */
  stop(): Promise<void>;
}

export interface PostgresOptions {
  /**
   * When set, TCP connections must give this password (scram-sha-256) and `url` carries it;
   * otherwise TCP connections are trusted. The Unix socket is always trusted.
   */
  readonly password?: string;
  /** Extra server settings, passed as `-c name=value`. */
  readonly settings?: Readonly<Record<string, string>>;
}

const BIN_ENV = "GM_POSTGRES_BIN";
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

/**
 * The directory of the PostgreSQL server binaries (initdb, postgres), or undefined: GM_POSTGRES_BIN
 * if set, else the newest /usr/lib/postgresql/<version>/bin (Debian), else `pg_config --bindir`.
 */
export function postgresBinDir(): string | undefined {
  const has = (dir: string) => existsSync(join(dir, "initdb")) && existsSync(join(dir, "postgres"));
  const fromEnv = process.env[BIN_ENV];
  if (fromEnv !== undefined && fromEnv !== "") {
    if (!has(fromEnv)) throw new Error(`${BIN_ENV}=${fromEnv} has no initdb and postgres in it`);
    return fromEnv;
  }
  const debian = "/usr/lib/postgresql";
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (has(join(debian, v, "bin"))) return join(debian, v, "bin");
  }
  try {
    const dir = execFileSync("pg_config", ["--bindir"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    if (has(dir.trim())) return dir.trim();
  } catch {
    // No pg_config: no binaries.
  }
  return undefined;
}

/**
 * What a PostgreSQL test passes as `skip`: false when the binaries are here. When they are not, a
 * loud error, unless GM_SKIP_POSTGRES=1 (and not GM_REQUIRE_POSTGRES=1): then the reason to skip.
 */
export function postgresSkip(): false | string {
  if (postgresBinDir() !== undefined) return false;
  const where = `no PostgreSQL server binaries (initdb, postgres) in /usr/lib/postgresql/*/bin, pg_config --bindir or ${BIN_ENV}`;
  if (process.env.GM_REQUIRE_POSTGRES === "1") throw new Error(`GM_REQUIRE_POSTGRES=1 but ${where}`);
  if (process.env.GM_SKIP_POSTGRES === "1") return `GM_SKIP_POSTGRES=1 and ${where}: PostgreSQL tests skipped`;
  throw new Error(
    `${where}. Install PostgreSQL (Debian: apt-get install postgresql) or set GM_SKIP_POSTGRES=1 to skip these tests.`,
  );
}

/** The uid and gid of the user `postgres`, when this process is root; undefined otherwise. */
function unprivilegedUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
  try {
    return { uid: id("-u"), gid: id("-g") };
  } catch (e) {
    throw new Error("running as root, and there is no user `postgres` to run PostgreSQL as", { cause: e });
  }
}

/**
 * A TCP port of 127.0.0.1 that was free a moment ago: the server then binds it (see the retry), or
 * a test uses it as a port nothing listens on.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** How the server process ended, once it has. */
type Exit = { code: number | null; signal: NodeJS.Signals | null };

function exited(child: ChildProcess): Promise<Exit> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
}

/** Servers still running, stopped at once (SIGQUIT: immediate shutdown) if this process exits. */
const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGQUIT");
});

/** Makes, starts and returns a throwaway cluster; `stop()` it when done (t.after / after). */
export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresCluster> {
  const bin = postgresBinDir();
  if (bin === undefined) throw new Error(String(postgresSkip() || "no PostgreSQL binaries"));
  const user = unprivilegedUser();
  const dir = mkdtempSync(join(tmpdir(), "gm-pg-"));
  try {
    if (user !== undefined) chownSync(dir, user.uid, user.gid);
    const data = join(dir, "data");
    const initdb = ["-D", data, "-U", "postgres", "--no-sync", "--auth-local=trust", "--encoding=UTF8"];
    if (options.password === undefined) initdb.push("--auth-host=trust");
    else {
      const pwfile = join(dir, "pwfile");
      writeFileSync(pwfile, `${options.password}\n`, { mode: 0o600 });
      if (user !== undefined) chownSync(pwfile, user.uid, user.gid);
      initdb.push("--auth-host=scram-sha-256", `--pwfile=${pwfile}`);
    }
    try {
      execFileSync(join(bin, "initdb"), initdb, {
        cwd: dir,
        env: { PATH: process.env.PATH, LANG: "C.UTF-8", LC_ALL: "C.UTF-8" },
        stdio: ["ignore", "ignore", "pipe"],
        timeout: START_TIMEOUT_MS,
        ...user,
      });
    } catch (e) {
      const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim() ?? "";
      // Seen on a machine whose /dev/null had become mode 0644: only root could write to it.
      const hint = /cannot create \/dev\/null/.test(stderr) ? " (/dev/null is not writable by postgres)" : "";
      throw new Error(`initdb failed in ${dir}${hint}: ${stderr || String(e)}`, { cause: e });
    }
    rmSync(join(dir, "pwfile"), { force: true });
    // Another process may take the port between freePort() and the bind: then try another.
    for (let attempt = 1; ; attempt++) {
      try {
        return await startServer(bin, dir, data, await freePort(), options, user);
      } catch (e) {
        if (!(e instanceof PortTaken) || attempt === 3) throw e;
      }
    }
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

class PortTaken extends Error {}

async function startServer(
  bin: string,
  dir: string,
  data: string,
  port: number,
  options: PostgresOptions,
  user: { uid: number; gid: number } | undefined,
): Promise<PostgresCluster> {
  const settings: Record<string, string> = {
    listen_addresses: "127.0.0.1",
    port: String(port),
    unix_socket_directories: dir,
    // A test cluster does not need the default 128 MB; several run at once on a small machine.
    shared_buffers: "32MB",
    ...options.settings,
  };
  const args = ["-D", data, ...Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`])];
  const child = spawn(join(bin, "postgres"), args, {
    cwd: dir,
    env: { PATH: process.env.PATH, LANG: "C.UTF-8", LC_ALL: "C.UTF-8" },
    stdio: ["ignore", "ignore", "pipe"],
    ...user,
  });
  running.add(child);
  const pid = child.pid;
  let log = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    // Keep the tail only: it is for error messages.
    log = (log + chunk).slice(-8192);
  });
  const exit = exited(child).then((how) => {
    running.delete(child);
    return how;
  });
  const ready = new Promise<void>((resolve) => {
    const check = () => {
      if (log.includes("database system is ready to accept connections")) {
        child.stderr?.off("data", check);
        resolve();
      }
    };
    child.stderr?.on("data", check);
  });
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    ready.then(() => "ready" as const),
    exit.then(() => "exited" as const),
    new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), START_TIMEOUT_MS);
    }),
  ]);
  clearTimeout(timer);
  if (outcome !== "ready" || pid === undefined) {
    if (outcome === "timeout") {
      child.kill("SIGKILL");
      await exit;
    }
    if (/could not bind|Address already in use/.test(log)) throw new PortTaken(log);
    throw new Error(`PostgreSQL did not start (${outcome}) in ${dir}:\n${log.trim()}`);
  }
  // The server keeps writing its log; read it so the pipe never fills, but let the test exit.
  child.stderr?.resume();
  const auth = options.password === undefined ? "" : `:${encodeURIComponent(options.password)}`;
  let stopped: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      // SIGINT is PostgreSQL's fast shutdown (what `pg_ctl stop -m fast` sends), to this pid only.
      child.kill("SIGINT");
      let deadline: NodeJS.Timeout | undefined;
      const late = await Promise.race([
        exit.then(() => false),
        new Promise<boolean>((resolve) => {
          deadline = setTimeout(() => resolve(true), STOP_TIMEOUT_MS);
        }),
      ]);
      clearTimeout(deadline);
      if (late) {
        child.kill("SIGKILL");
        await exit;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    host: "127.0.0.1",
    port,
    socketDir: dir,
    url: `postgres://postgres${auth}@127.0.0.1:${port}/postgres`,
    pid,
    stop: () => {
      stopped ??= stop();
      return stopped;
    },
  };
}
