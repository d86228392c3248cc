/**
 * The ZAP handler (ZeroMQ RFC 27) of this process: libzmq asks it about every handshake, CURVE or
 * NULL, on a socket with a ZAP domain (every gm server socket, security.ts), before the peer can
 * send a single request. It refuses every handshake while the process holds its cap of
 * connections (connections.ts), and the keys a server was told to refuse (`--deny-key`); it allows
 * the rest. It logs refusals at most once a minute (with a count), so a flood of handshakes
 * cannot flood the log.
 * One handler serves every server in the process (`gm up` runs two): ZAP has one endpoint per
 * ZeroMQ context.
 */
import * as zmq from "zeromq";
import { type Key, z85Encode } from "../protocol/keys.js";
import { LogLimiter } from "../util/log-limiter.js";
import { admitHandshake, connectionCount, maxConnections } from "./connections.js";
import { keyFingerprint } from "./security.js";

const ZAP_ENDPOINT = "inproc://zeromq.zap.01";

/** One server's use of the process's ZAP handler. */
export interface ZapGate {
  /** Stops using the handler (the last user closes it). */
  release(): Promise<void>;
}

interface Handler {
  readonly socket: zmq.Router;
  readonly loop: Promise<void>;
  /** Refused keys, each with the number of gates that refuse it. */
  readonly denied: Map<Key, number>;
  readonly logs: Set<(line: string) => void>;
  users: number;
  readonly limits: LogLimiter;
}

let shared: Promise<Handler> | undefined;
/** The previous handler's closing: a new one binds the endpoint only after it. */
let closing: Promise<void> = Promise.resolve();

async function start(): Promise<Handler> {
  await closing;
  const socket = new zmq.Router({ linger: 0 });
  // libzmq frees an inproc endpoint when its socket is reaped, a moment after close(): a server
  // started right after the last one in this process stopped may find it still taken.
  for (let attempt = 0; ; attempt++) {
    try {
      await socket.bind(ZAP_ENDPOINT);
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== "EADDRINUSE" || attempt >= 40) {
        socket.close();
        throw err;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  const h: Handler = {
    socket,
    loop: Promise.resolve(),
    denied: new Map(),
    logs: new Set(),
    users: 0,
    // A line about the process's handshakes, written once: to the log of the first server still
    // using the handler (a group server's two sockets both use it, and share a log).
    limits: new LogLimiter((line) => {
      for (const log of h.logs) return log(line);
    }),
  };
  (h as { loop: Promise<void> }).loop = (async () => {
    try {
      for await (const frames of socket) answer(h, frames);
    } catch {
      // Closed.
    }
  })();
  return h;
}

function answer(h: Handler, frames: Buffer[]): void {
  // [routing id, empty, version, request id, domain, address, identity, mechanism, credentials…]
  const [peer, empty, version, requestId, , address, , mechanism, credentials] = frames;
  if (peer === undefined || empty === undefined || requestId === undefined) return;
  if (version?.toString() !== "1.0") return; // RFC 27: not a request this handler understands
  let status = "200";
  let text = "OK";
  let user = "";
  const connections = connectionCount();
  if (connections.count > maxConnections()) {
    // 500, not 300: libzmq answers a 300 with nothing and keeps the connection (and its file
    // descriptor) until the handshake times out; a 400 or 500 sends ERROR and closes it at once.
    // gm clients read the 500 as "the server is full" (security.ts).
    status = "500";
    text = "too many connections";
    // The count is of TCP connections: libzmq accepts every one and the cap applies here, at the
    // handshake, so it may pass the cap by those still in their handshake.
    const { open, established, admitted } = connections;
    h.limits.line(
      "refused at the connection limit",
      `refused a connection from ${address?.toString("latin1") ?? "?"}: this process is at its limit of ` +
        `${maxConnections()} connections (--max-connections): ${open} open, of which ${established} past their ` +
        `handshake and the others in it${admitted > 0 ? `, and ${admitted} handshakes allowed a moment ago` : ""}`,
      (count, last) => `refused ${count} more connections at the connection limit in the last minute (last: ${last})`,
    );
  } else if (mechanism?.toString() === "CURVE" && credentials?.length === 32) {
    const key = z85Encode(credentials);
    user = key;
    if (h.denied.has(key)) {
      status = "400";
      text = "this key is not allowed here";
      report(h, `key ${keyFingerprint(key)} from ${address?.toString("latin1") ?? "?"}`);
    }
  }
  if (status === "200") admitHandshake();
  h.socket.send([peer, empty, "1.0", requestId, status, text, user, ""]).catch(() => {});
}

function report(h: Handler, what: string): void {
  h.limits.line(
    "refused handshakes",
    `refused the handshake of ${what}`,
    (count, last) => `refused the handshakes of ${count} more denied keys in the last minute (last: ${last})`,
  );
}

/**
 * Starts (or joins) the process's ZAP handler, refusing `deny` keys for as long as the gate is
 * held. Call before binding the server's sockets, so that no handshake goes unchecked.
 */
export async function openZapGate(deny: readonly Key[], log: (line: string) => void): Promise<ZapGate> {
  shared ??= start();
  const h = await shared;
  h.users++;
  h.logs.add(log);
  for (const k of deny) h.denied.set(k, (h.denied.get(k) ?? 0) + 1);
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      h.logs.delete(log);
      for (const k of deny) {
        const n = (h.denied.get(k) ?? 1) - 1;
        if (n <= 0) h.denied.delete(k);
        else h.denied.set(k, n);
      }
      if (--h.users > 0) return;
      shared = undefined;
      h.limits.stop();
      closing = (async () => {
        h.socket.close();
        await h.loop;
      })();
      await closing;
    },
  };
}
