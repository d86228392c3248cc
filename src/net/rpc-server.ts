import * as zmq from "zeromq";
import {
  decodeRequest,
  ErrorCode,
  encodeError,
  encodeReply,
  GmError,
  isWireCode,
  Limits,
  type Request,
  Status,
} from "../protocol/index.js";
import { isKey, type Key, type KeyPair, ProofVerifier } from "../protocol/keys.js";
import type { Logger } from "../util/log.js";
import { LogLimiter } from "../util/log-limiter.js";
import { bindSocket } from "./bind.js";
import { refusalLog, watchConnections } from "./connections.js";
import { type BacklogLimits, frameBytes, Outbox, type ReplyBudget } from "./outbox.js";
import { serverOptions } from "./security.js";
import { openZapGate, type ZapGate } from "./zap.js";
import { readInSmallBatches, SERVER_KEEPALIVE } from "./zmtp-guard.js";

/** Replies ZeroMQ may hold for one peer that is not reading (its send high-water mark). */
export const PEER_QUEUED_REPLIES = 16;
/** Replies beyond those wait in the process, up to these many bytes per peer and in all. */
export const PEER_BACKLOG: BacklogLimits = { peerBytes: 4 * 1024 * 1024, totalBytes: 32 * 1024 * 1024 };
/** A peer that has not let us send anything for this long is dropped by TCP (TCP_USER_TIMEOUT). */
export const STALLED_PEER_MS = 30_000;
/**
 * Requests ZeroMQ may hold for one peer before the server reads them (its receive high-water
 * mark); beyond them it stops reading that connection and TCP holds the rest back. A client with
 * more requests in flight loses nothing: they wait in its own queue and in TCP.
 */
export const PEER_QUEUED_REQUESTS = 100;
/**
 * The bytes of replies the process may hold at once for all peers together (queued, waiting for a
 * full peer, or possibly still inside ZeroMQ: Outbox's ReplyBudget), and for the peers of one
 * user (the key a request was signed with; on an insecure server the `user` it names). A reply
 * larger than SMALL_REPLY_BYTES that would pass either is not sent: the request gets `300 BUSY`.
 */
export const REPLY_BUDGET: Omit<ReplyBudget, "peerReplies"> = {
  totalBytes: 32 * 1024 * 1024,
  shareBytes: 8 * 1024 * 1024,
};
/** Replies of at most this many bytes are always sent (acks, errors, BUSY itself). */
export const SMALL_REPLY_BYTES = 4096;

/**
 * A peer answered BUSY this many times within BUSY_WINDOW_MS keeps asking for what it is refused
 * (a gm client asks again after 1 s, then 2 s): its requests are then dropped unread for
 * BUSY_PAUSE_MS, as a stalled peer's are, so that a flood of them costs next to nothing.
 */
const BUSY_FLOOD = 32;
const BUSY_WINDOW_MS = 1000;
const BUSY_PAUSE_MS = 1000;

/** The receive loop lets the rest of the event loop run at least this often, in ms. */
const YIELD_EVERY_MS = 5;

/** libzmq's ZMQ_ROUTER_NOTIFY (a draft option) and its ZMQ_NOTIFY_DISCONNECT flag. */
const ZMQ_ROUTER_NOTIFY = 97;
const ZMQ_NOTIFY_DISCONNECT = 2;

/**
 * A ROUTER that receives `[routing id, empty frame]` when a peer disconnects (ZMQ_ROUTER_NOTIFY),
 * where libzmq has the draft option (zeromq.js 6's prebuilt one has); zeromq.js has no property
 * for it.
 */
class NotifyingRouter extends zmq.Router {
  /** Whether disconnections are notified. */
  notifyDisconnects(): boolean {
    if (!zmq.capability.draft) return false;
    try {
      this.setInt32Option(ZMQ_ROUTER_NOTIFY, ZMQ_NOTIFY_DISCONNECT);
      return true;
    } catch {
      return false;
    }
  }

  /** See zmtp-guard.ts. */
  guardInput(): boolean {
    return readInSmallBatches((option, value) => this.setInt32Option(option, value));
  }
}

/**
 * A request whose signer is known: `peer` is the public key its proof was made with and `peerId`
 * the user id of that key (both absent on an insecure server).
 */
export type SignedRequest = Request & { readonly peer?: Key; readonly peerId?: string };

/** Handles one decoded request; returns the reply body or throws a GmError. */
export type Handler = (request: SignedRequest) => unknown;

export interface RpcServerOptions {
  readonly handlers: Readonly<Record<string, Handler>>;
  /**
   * The server's CURVE keypair. With it the socket is a CURVE server and every request must carry
   * `key` and `proof` (PROTOCOL.md §12); without it, plain text and no proofs (`--insecure`).
   */
  readonly keys?: KeyPair;
  /** Keys whose CURVE handshake the process's ZAP handler refuses (`--deny-key`). */
  readonly deny?: readonly Key[];
  /** Called with a line per internal error, and (rate-limited) per kind of refused connection. */
  readonly log?: Logger;
  /**
   * Per-request lines: malformed requests, AUTH_REQUIRED, BAD_PROOF. Rate-limited per kind (the
   * first at once, then a summary a minute); `log` if not given, `silent` for `--quiet`.
   */
  readonly requests?: Logger;
  /** The period of the rate limits, in ms (60 s; tests shorten it). */
  readonly logPeriodMs?: number;
  /**
   * Commands whose reply may be large, with the most bytes it may take: while the reply budget
   * (REPLY_BUDGET) lacks that room, they get `300 BUSY` before their handler runs (so no page is
   * built for a client that will not read it). Any other reply is checked once it is made.
   */
  readonly largeReplies?: Readonly<Record<string, number>>;
  /** The reply budget (tests shrink it). */
  readonly replyBudget?: Omit<ReplyBudget, "peerReplies">;
}

/**
 * A ROUTER socket that decodes each request, dispatches it to its handler and always replies
 * (REQ clients included: their empty delimiter is mirrored). Handlers may answer late (a send
 * waits for its commit); the receive loop never waits for them.
 */
export class RpcServer {
  private readonly socket: NotifyingRouter;
  private readonly verifier: ProofVerifier | undefined;
  private gate: ZapGate | undefined;
  private readonly outbox: Outbox;
  /** Stops counting this socket's connections. */
  private readonly unwatch: () => void;
  /** Rate limits for repeated lines: refused handshakes, and per-request refusals. */
  private readonly limits: LogLimiter;
  private readonly requestLimits: LogLimiter;
  private inFlight = 0;
  /** Peers answered BUSY lately (by routing id): how often since when, and until when they are ignored. */
  private readonly busyPeers = new Map<string, { count: number; since: number; until: number }>();
  private closing = false;
  private loop: Promise<void> | undefined;
  endpoint = "";

  constructor(private readonly options: RpcServerOptions) {
    this.socket = new NotifyingRouter({
      linger: 0,
      maxMessageSize: Limits.frameBytes,
      // A peer that stops reading holds at most this many replies inside ZeroMQ; with
      // ROUTER_MANDATORY the next send to it fails (EAGAIN) instead of being dropped unseen, and
      // the Outbox keeps what follows, bounded in bytes (PEER_BACKLOG). Replies are at most
      // Limits.historyBytes each, so this bounds what one peer costs in bytes, not only in messages.
      sendHighWaterMark: PEER_QUEUED_REPLIES,
      mandatory: true,
      // A peer whose receive window stays shut this long (it reads nothing) is disconnected by the
      // kernel (TCP_USER_TIMEOUT), and what was queued for it is freed.
      tcpMaxRetransmitTimeout: STALLED_PEER_MS,
      // Requests wait in ZeroMQ for the receive loop at most PEER_QUEUED_REQUESTS per peer; then
      // libzmq stops reading that connection and TCP holds the rest back.
      receiveHighWaterMark: PEER_QUEUED_REQUESTS,
      // No ZMTP heartbeats of our own (zmtp-guard.ts): a peer that vanished is found by TCP
      // keepalive instead, and one that does not read by TCP_USER_TIMEOUT.
      ...SERVER_KEEPALIVE,
      // A ROUTER without ROUTER_MANDATORY never blocks on send; with no timeout zeromq.js also skips
      // a readiness poll before every send.
      sendTimeout: 0,
      ...serverOptions(options.keys),
    });
    this.socket.guardInput();
    this.verifier = options.keys === undefined ? undefined : new ProofVerifier(options.keys);
    this.limits = new LogLimiter((l) => this.log(l), options.logPeriodMs);
    this.requestLimits = new LogLimiter(options.requests ?? ((l) => this.log(l)), options.logPeriodMs);
    // Counted from before the bind, so that no connection escapes the count (connections.ts).
    this.unwatch = watchConnections(this.socket, options.keys !== undefined, refusalLog(this.limits));
    // Without disconnect notices, what is counted for a peer that left would stay counted until
    // a send to it failed: no budget then, only the per-peer bounds.
    const budget = this.socket.notifyDisconnects()
      ? { ...(options.replyBudget ?? REPLY_BUDGET), peerReplies: PEER_QUEUED_REPLIES + 1 }
      : undefined;
    this.outbox = new Outbox(this.socket, (err) => this.log(`send failed: ${String(err)}`), PEER_BACKLOG, budget);
    this.budgetBytes = budget;
  }

  private readonly budgetBytes: Omit<ReplyBudget, "peerReplies"> | undefined;

  /** Binds and starts serving; resolves with the bound endpoint (the real port for `:*`/`:0`). */
  async listen(endpoint: string): Promise<string> {
    // ZAP first: no handshake may reach the socket before the handler is there to decide on it.
    this.gate = await openZapGate(this.options.deny ?? [], (l) => this.log(l));
    try {
      this.endpoint = await bindSocket(this.socket, endpoint);
    } catch (err) {
      this.unwatch();
      await this.gate?.release();
      throw err;
    }
    this.loop = this.receiveLoop();
    return this.endpoint;
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  private async receiveLoop(): Promise<void> {
    try {
      let since = performance.now();
      for await (const frames of this.socket) {
        this.dispatch(frames);
        // A socket that always has a request ready resolves every receive at once, so this loop
        // would run in microtasks and never let timers and immediates run (the store's group
        // commit, the outbox's retries): under a flood, an acknowledgement waited seconds.
        const now = performance.now();
        if (now - since >= YIELD_EVERY_MS) {
          await new Promise(setImmediate);
          since = performance.now();
        }
      }
    } catch (err) {
      if (!this.socket.closed) this.log(`receive loop stopped: ${String(err)}`);
    }
  }

  private dispatch(frames: Buffer[]): void {
    if (frames.length === 2 && frames[1]?.length === 0) {
      // ROUTER_NOTIFY's notice that a peer disconnected (or an empty message, which a DEALER can
      // send: a malformed request). Its reply, BAD_SIGNATURE as for any empty message, finds
      // out which: ZeroMQ refuses it (EHOSTUNREACH) if the peer is gone, and what was counted
      // for the peer is freed. Not logged: every disconnection brings one.
      const decoded = decodeRequest(frames);
      if (!decoded.ok) this.outbox.probe(encodeError(decoded.envelope, decoded.id, decoded.error));
      return;
    }
    // A peer that has stopped reading its replies gets no more of them (they could not be
    // sent): its requests are dropped unread, before any work or memory is spent on them.
    if (frames.length > 0 && (this.outbox.stalled(frames[0] as Buffer) || this.flooding(frames[0] as Buffer))) return;
    const decoded = decodeRequest(frames);
    if (!decoded.ok) {
      this.requestLimits.line(
        `malformed requests (${decoded.error.code})`,
        `rejected a malformed request: ${decoded.error.code}: ${decoded.error.message}`,
      );
      this.outbox.push(encodeError(decoded.envelope, decoded.id, decoded.error));
      return;
    }
    const request = decoded.request;
    let who = "";
    const fail = (err: unknown) =>
      this.outbox.push(encodeError(request.envelope, request.id, this.toGmError(err)), who);
    if (this.closing) {
      fail(new GmError(ErrorCode.ShuttingDown, "the server is shutting down; try again shortly", Status.TryAgain));
      return;
    }
    const handler = Object.hasOwn(this.options.handlers, request.command)
      ? this.options.handlers[request.command]
      : undefined;
    if (handler === undefined) {
      const known = Object.keys(this.options.handlers).join(", ");
      // The command is printable ASCII of at most 32 characters (decodeRequest checked it).
      this.requestLimits.line("unknown commands", `rejected an unknown command: ${request.command}`);
      fail(new GmError(ErrorCode.UnknownCommand, `unknown command "${request.command}"; this server knows ${known}`));
      return;
    }
    const ok = (body: unknown) => {
      const reply = encodeReply(request.envelope, request.id, body);
      const bytes = frameBytes(reply);
      if (bytes > SMALL_REPLY_BYTES && this.busy(bytes, who, fail, request.envelope[0])) return;
      this.outbox.push(reply, who);
    };
    try {
      const signed = this.sign(request);
      who = signed.peerId ?? (typeof request.body.user === "string" ? request.body.user.slice(0, 64) : "");
      const large = this.options.largeReplies?.[request.command];
      if (large !== undefined && this.busy(large, who, fail, request.envelope[0])) return;
      const result = handler(signed);
      if (result instanceof Promise) {
        this.inFlight++;
        result.then(ok, fail).finally(() => this.inFlight--);
      } else {
        ok(result);
      }
    } catch (err) {
      fail(err);
    }
  }

  /**
   * Whether a reply of `bytes` to `who` would pass the reply budget; if so, answers `300 BUSY`
   * through `fail` instead (and logs it, at most once a minute).
   */
  private busy(bytes: number, who: string, fail: (err: unknown) => void, peer: Buffer | undefined): boolean {
    const over = this.outbox.overBudget(bytes, who);
    if (over === undefined) return false;
    if (peer !== undefined) this.refused(peer);
    const budget = this.budgetBytes as Omit<ReplyBudget, "peerReplies">;
    const mib = (n: number) => `${Math.round(n / (1024 * 1024))} MiB`;
    this.limits.line(
      `replies refused (BUSY, ${over})`,
      over === "total"
        ? `answered BUSY: replies that clients may not have read yet fill the ${mib(budget.totalBytes)} budget`
        : `answered BUSY: replies to one user that may not have been read yet fill its ${mib(budget.shareBytes)} share`,
    );
    fail(
      new GmError(
        ErrorCode.Busy,
        over === "total"
          ? `the server is busy: replies that clients have not read yet fill its memory for them (${mib(budget.totalBytes)}); try again shortly`
          : `the server is busy: replies to this user that may not have been read yet fill one user's share of its memory for them (${mib(budget.shareBytes)}); try again shortly`,
        Status.TryAgain,
      ),
    );
    return true;
  }

  /** Counts a BUSY answer to a peer; one that asks too often is ignored for a while (BUSY_FLOOD). */
  private refused(peer: Buffer): void {
    const now = performance.now();
    const id = peer.toString("latin1");
    let entry = this.busyPeers.get(id);
    if (entry === undefined || now - entry.since > BUSY_WINDOW_MS) {
      if (entry === undefined && this.busyPeers.size >= 4096) this.sweepBusyPeers(now);
      entry = { count: 0, since: now, until: 0 };
      this.busyPeers.set(id, entry);
    }
    if (++entry.count >= BUSY_FLOOD) entry.until = now + BUSY_PAUSE_MS;
  }

  /** Whether a peer is being ignored for asking again and again while BUSY. */
  private flooding(peer: Buffer): boolean {
    if (this.busyPeers.size === 0) return false;
    const entry = this.busyPeers.get(peer.toString("latin1"));
    return entry !== undefined && entry.until > performance.now();
  }

  private sweepBusyPeers(now: number): void {
    for (const [id, e] of this.busyPeers)
      if (e.until <= now && now - e.since > BUSY_WINDOW_MS) this.busyPeers.delete(id);
  }

  /** The request with the key that signed it; throws AUTH_REQUIRED or BAD_PROOF (PROTOCOL.md §12). */
  private sign(request: Request): SignedRequest {
    if (this.verifier === undefined) return request;
    const { key, proof } = request.body;
    if (!isKey(key) || typeof proof !== "string") {
      this.requestLimits.line(
        "requests without a key (AUTH_REQUIRED)",
        `refused a ${request.command} request: AUTH_REQUIRED`,
      );
      throw new GmError(
        ErrorCode.AuthRequired,
        'this server needs "key" (your CURVE public key, 40 characters of Z85) and "proof" in every request',
      );
    }
    const peerId = this.verifier.verify(key, proof);
    if (peerId === undefined) {
      this.requestLimits.line(
        "requests with a bad proof (BAD_PROOF)",
        `refused a ${request.command} request: BAD_PROOF for key ${key}`,
      );
      throw new GmError(ErrorCode.BadProof, `"proof" is not the proof of key ${key} for this server`);
    }
    return { ...request, peer: key, peerId };
  }

  private toGmError(err: unknown): GmError {
    // A local failure (a StoreError, say) has no code a client knows: it is an internal error.
    if (err instanceof GmError && isWireCode(err.code)) return err;
    const detail = err instanceof Error ? err.message : String(err);
    this.log(`internal error: ${err instanceof Error ? (err.stack ?? detail) : detail}`);
    return new GmError(ErrorCode.Internal, `internal error: ${detail}`, Status.ServerError);
  }

  /**
   * Stops taking requests (new ones get 300 SHUTTING_DOWN), waits up to `graceMs` for handlers
   * in flight to reply, then closes the socket.
   */
  async close(graceMs = 1500): Promise<void> {
    if (this.socket.closed) return;
    this.closing = true;
    this.limits.stop();
    this.requestLimits.stop();
    const until = Date.now() + graceMs;
    while (this.inFlight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    await this.outbox.flushed(Math.max(0, until - Date.now()));
    // Replies handed to ZeroMQ may still sit in its queues: let them go out before the socket dies.
    this.socket.linger = Math.max(200, until - Date.now());
    this.outbox.stop();
    this.socket.close();
    this.unwatch();
    await this.loop;
    await this.gate?.release();
  }
}
