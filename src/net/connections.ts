/**
 * The TCP connections of this process's server sockets, and the cap on them (PROTOCOL.md §4).
 *
 * libzmq accepts every connection its listener is offered; when accept() fails for want of a file
 * descriptor (EMFILE) the listener stays readable and libzmq's I/O thread spins on it at full CPU,
 * and no new client gets in. The cure is never to get there: the soft limit on open files is the
 * hard limit (Node raises it at start; `raiseFileLimit` does where it did not), and the connections of every server socket
 * of the process are counted from its monitor events (accept, disconnect); while they are at the
 * cap (`--max-connections`, by default half of what the file limit leaves, at most
 * DEFAULT_MAX_CONNECTIONS), the ZAP handler (zap.ts) refuses every new handshake, which makes
 * libzmq close that connection at once. A peer that never handshakes (an idle TCP connection,
 * a port scanner) is closed by libzmq after HANDSHAKE_MS whatever the count; the other half of the
 * file limit is room for those, and for files.
 *
 * The count is per process because the file limit is: `gm up` and `gm group` share it between
 * their ports. ZMQ_MAX_SOCKETS does not help here: it bounds ZeroMQ sockets, not connections.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import type { Socket } from "zeromq";
import type { LogLimiter } from "../util/log-limiter.js";

/** libzmq closes a connection whose ZMTP handshake is not done this long after accept (30 s by default). */
export const HANDSHAKE_MS = 5000;
/** A tick of the silent-peer count this late means the event loop lags: monitor events may be unread. */
const LAGGING_MS = 500;
/** The default cap never goes above this (about 30 KB of libzmq memory per connection). */
export const DEFAULT_MAX_CONNECTIONS = 4096;
/** File descriptors kept out of the default cap for the process itself (SQLite files, Node, libzmq). */
const RESERVED_FILES = 128;

/** The limit on open files, as it stands and as it was when the process started. */
export interface FileLimit {
  readonly soft: number;
  readonly hard: number;
  /** The soft limit before `raiseFileLimit`, when it raised it. */
  readonly raisedFrom?: number;
  /** Why it could not be raised, if it could not. */
  readonly problem?: string;
}

/** The process's limit on open files, from /proc (Infinity for "unlimited"). */
export function fileLimit(pid: number | "self" = "self"): { soft: number; hard: number } {
  const line = readFileSync(`/proc/${pid}/limits`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("Max open files"));
  const [soft, hard] = (line ?? "").slice("Max open files".length).trim().split(/\s+/);
  const num = (s: string | undefined) => (s === "unlimited" ? Number.POSITIVE_INFINITY : Number(s));
  return { soft: num(soft), hard: num(hard) };
}

/**
 * Raises this process's soft limit on open files to its hard limit, where Node has not done so at
 * start (it does on Linux, up to the hard limit). Node has no setrlimit, so it
 * runs util-linux's `prlimit` on its own pid; without it (or off Linux) the limit stays as it is
 * and `problem` says why.
 */
export function raiseFileLimit(): FileLimit {
  let now: { soft: number; hard: number };
  try {
    now = fileLimit();
  } catch {
    return { soft: Number.NaN, hard: Number.NaN, problem: "cannot read /proc/self/limits" };
  }
  if (now.soft >= now.hard) return now;
  const hard = Number.isFinite(now.hard) ? String(now.hard) : "unlimited";
  try {
    execFileSync("prlimit", ["--pid", String(process.pid), `--nofile=${hard}:${hard}`], { stdio: "ignore" });
  } catch (err) {
    const code = (err as { code?: string }).code;
    return { ...now, problem: code === "ENOENT" ? "prlimit (util-linux) is not installed" : "prlimit failed" };
  }
  const after = fileLimit();
  return after.soft > now.soft ? { ...after, raisedFrom: now.soft } : { ...after, problem: "prlimit changed nothing" };
}

/** The default cap for a soft limit on open files: half of what the reserve leaves, at most 4096. */
export function defaultMaxConnections(softLimit: number): number {
  if (!Number.isFinite(softLimit)) return DEFAULT_MAX_CONNECTIONS;
  return Math.max(16, Math.min(DEFAULT_MAX_CONNECTIONS, Math.floor((softLimit - RESERVED_FILES) / 2)));
}

let max = DEFAULT_MAX_CONNECTIONS;
/**
 * The connections of each watched socket that are open now (accepted, not yet closed), and of
 * those how many are past their handshake (an estimate from above: a handshake event counts one
 * in, and a close takes one out only where fewer are open than counted; closes do not say
 * which connection went).
 */
const open = new Map<Socket, { count: number; established: number }>();

/** Sets the process's cap on connections (`--max-connections`). */
export function setMaxConnections(n: number): void {
  max = n;
}

export function maxConnections(): number {
  return max;
}

/** Connections open now on every watched server socket of this process (accepted, not yet closed). */
export function openConnections(): number {
  let n = 0;
  for (const s of open.values()) n += s.count;
  return n;
}

/** Of the open connections, those past their handshake (at most; see `open`). */
function establishedConnections(): number {
  let n = 0;
  for (const s of open.values()) n += s.established;
  return n;
}

/**
 * Handshakes the ZAP handler allowed whose success event has not been read yet (their times). The
 * monitor events of a burst of connections may be read after the burst's ZAP requests; without
 * these a burst would pass the cap. One not seen within ADMITTED_MS is dropped (it failed).
 */
const admitted: number[] = [];
const ADMITTED_MS = 2000;

/** Records a handshake the ZAP handler allowed. */
export function admitHandshake(): void {
  admitted.push(Date.now());
}

/** What the cap is compared with (connectionCount), and what it is made of, for the log. */
export interface ConnectionCount {
  /** The count the cap applies to. */
  readonly count: number;
  /** TCP connections open (accepted, not yet closed), in their handshake or past it. */
  readonly open: number;
  /** Of those, past their handshake (at most). */
  readonly established: number;
  /** Handshakes allowed whose success has not been seen yet. */
  readonly admitted: number;
}

/**
 * The count a new handshake is refused at (when it is over the cap): the TCP connections of the
 * process, those still in their handshake included (libzmq accepts every connection and the cap
 * applies at the handshake, so more than the cap may be open for a moment while the surplus is
 * refused), the connection asking included (its accept event usually comes first, hence "over").
 * It errs towards refusing one too many, never admitting one too many.
 */
export function connectionCount(): ConnectionCount {
  const old = Date.now() - ADMITTED_MS;
  while (admitted.length > 0 && (admitted[0] as number) < old) admitted.shift();
  const o = openConnections();
  const e = Math.min(establishedConnections(), o);
  // An allowed handshake is usually open already (its accept was seen) and is then not counted
  // twice; it counts on its own only while the monitor events lag behind the ZAP requests. So
  // does the connection asking (the 1), which is open, and in its handshake, once its accept was.
  return { count: Math.max(o, e + admitted.length + 1), open: o, established: e, admitted: admitted.length };
}

/** What `watchConnections` reports: one refused connection (or `count` of them) and why. */
export type RefusalReport = (reason: string, count?: number) => void;

/** Reports refused connections through a rate limit: the first at once, then a count a minute. */
export function refusalLog(limits: LogLimiter, prefix = ""): RefusalReport {
  return (reason, count = 1) =>
    limits.line(
      "refused connections",
      `${prefix}refused ${count === 1 ? "a connection" : `${count} connections`}: ${reason}`,
      (n, last) => `${prefix}refused ${n} more connections in the last minute (last: ${last})`,
      count,
    );
}

/**
 * Counts the connections of a server socket (call before it binds) and reports each connection
 * that did not complete its handshake, with a reason an operator can act on. `secure`: the socket
 * is a CURVE server. Returns a function that stops counting (call when the socket closes).
 *
 * libzmq reports most failed handshakes with an event, but a peer whose first bytes are not ZMTP
 * 3 (HTTP, a port scanner, ZMTP 1.0) is closed without one: those are found by counting. Every
 * connection ends within HANDSHAKE_MS as established, failed with an event, or closed silently; so
 * once per HANDSHAKE_MS the connections accepted two ticks ago or earlier that neither completed
 * nor failed with an event are the silent ones (a lower bound until traffic pauses, then exact).
 * The events are read by the event loop: while it lags (a tick comes late), the outcome of a slow
 * handshake may not have been read yet, and a real client would be taken for a silent peer, so
 * no conclusion is drawn from such a tick.
 */
export function watchConnections(
  socket: Socket,
  secure: boolean,
  report: RefusalReport,
  tickMs = HANDSHAKE_MS,
): () => void {
  const mine = { count: 0, established: 0 };
  open.set(socket, mine);
  let accepted = 0;
  let acceptedAtLastTick = 0;
  let acceptedTwoTicksAgo = 0;
  let lastTick = performance.now();
  let established = 0;
  let failed = 0;
  let silentReported = 0;
  const events = socket.events;
  events.on("accept", () => {
    accepted++;
    mine.count++;
  });
  events.on("disconnect", () => {
    mine.count = Math.max(0, mine.count - 1);
    mine.established = Math.min(mine.established, mine.count);
  });
  events.on("handshake", () => {
    established++;
    mine.established = Math.min(mine.established + 1, mine.count);
    admitted.shift();
  });
  const fail = (reason: string) => {
    failed++;
    report(reason);
  };
  events.on("handshake:error:protocol", (e) => {
    const code = (e.error as { code?: string } | undefined)?.code;
    fail(
      code === "ERR_ZMTP_MECHANISM_MISMATCH"
        ? secure
          ? "a peer without CURVE (a client running with --insecure?)"
          : "a peer using CURVE (this server runs with --insecure; the client does not)"
        : code === "ERR_ZMTP_CRYPTOGRAPHIC"
          ? "a CURVE handshake that does not open with this server's key (the client expects another key)"
          : `a handshake that breaks the ZMTP protocol (${code ?? "protocol error"})`,
    );
  });
  events.on("handshake:error:auth", (e) => {
    const status = (e.error as { status?: number } | undefined)?.status;
    // The ZAP handler reports its own refusals (a denied key, the connection limit); only count.
    failed++;
    if (status !== 400 && status !== 500) report(`a handshake the ZAP handler failed (status ${status ?? "?"})`);
  });
  events.on("handshake:error:other", (e) => {
    const code = (e.error as { code?: string } | undefined)?.code;
    fail(
      code === "EPIPE" || code === "ECONNRESET"
        ? "a peer that hung up before finishing its handshake"
        : code === "EAGAIN" || code === "ETIMEDOUT"
          ? `a peer that sent no complete handshake within ${HANDSHAKE_MS / 1000} s (an idle connection?)`
          : code === "EMFILE" || code === "ENFILE"
            ? `this process has no file descriptor left (${code}): raise the open-files limit or lower --max-connections`
            : `a handshake that failed (${code ?? "unknown cause"})`,
    );
  });
  const tick = setInterval(() => {
    const now = performance.now();
    const late = now - lastTick - tickMs;
    lastTick = now;
    const candidates = acceptedTwoTicksAgo;
    acceptedTwoTicksAgo = acceptedAtLastTick;
    acceptedAtLastTick = accepted;
    if (late > LAGGING_MS) return;
    const silent = candidates - established - failed;
    if (silent <= silentReported) return;
    const n = silent - silentReported;
    silentReported = silent;
    report(
      `${n === 1 ? "a peer" : `${n} peers`} whose first bytes were not ZMTP 3 (HTTP, a port scanner, an old ZeroMQ?)`,
      n,
    );
  }, tickMs);
  tick.unref();
  return () => {
    clearInterval(tick);
    open.delete(socket);
  };
}
