import * as zmq from "zeromq";
import {
  decodeRequest,
  ErrorCode,
  encodeError,
  encodeReply,
  GmError,
  HEARTBEAT,
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
import { type BacklogLimits, Outbox } from "./outbox.js";
import { serverOptions } from "./security.js";
import { openZapGate, type ZapGate } from "./zap.js";

/** Replies ZeroMQ may hold for one peer that is not reading (its send high-water mark). */
export const PEER_QUEUED_REPLIES = 16;
/** Replies beyond those wait in the process, up to these many bytes per peer and in all. */
export const PEER_BACKLOG: BacklogLimits = { peerBytes: 4 * 1024 * 1024, totalBytes: 32 * 1024 * 1024 };
/** A peer that has not let us send anything for this long is dropped by TCP (TCP_USER_TIMEOUT). */
export const STALLED_PEER_MS = 30_000;

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
}

/**
 * A ROUTER socket that decodes each request, dispatches it to its handler and always replies
 * (REQ clients included: their empty delimiter is mirrored). Handlers may answer late (a send
 * waits for its commit); the receive loop never waits for them.
 */
export class RpcServer {
  private readonly socket: zmq.Router;
  private readonly verifier: ProofVerifier | undefined;
  private gate: ZapGate | undefined;
  private readonly outbox: Outbox;
  /** Stops counting this socket's connections. */
  private readonly unwatch: () => void;
  /** Rate limits for repeated lines: refused handshakes, and per-request refusals. */
  private readonly limits: LogLimiter;
  private readonly requestLimits: LogLimiter;
  private inFlight = 0;
  private closing = false;
  private loop: Promise<void> | undefined;
  endpoint = "";

  constructor(private readonly options: RpcServerOptions) {
    this.socket = new zmq.Router({
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
      receiveHighWaterMark: 10_000,
      ...HEARTBEAT,
      // A ROUTER without ROUTER_MANDATORY never blocks on send; with no timeout zeromq.js also skips
      // a readiness poll before every send.
      sendTimeout: 0,
      ...serverOptions(options.keys),
    });
    this.verifier = options.keys === undefined ? undefined : new ProofVerifier(options.keys);
    this.limits = new LogLimiter((l) => this.log(l), options.logPeriodMs);
    this.requestLimits = new LogLimiter(options.requests ?? ((l) => this.log(l)), options.logPeriodMs);
    // Counted from before the bind, so that no connection escapes the count (connections.ts).
    this.unwatch = watchConnections(this.socket, options.keys !== undefined, refusalLog(this.limits));
    this.outbox = new Outbox(this.socket, (err) => this.log(`send failed: ${String(err)}`), PEER_BACKLOG);
  }

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
      for await (const frames of this.socket) this.dispatch(frames);
    } catch (err) {
      if (!this.socket.closed) this.log(`receive loop stopped: ${String(err)}`);
    }
  }

  private dispatch(frames: Buffer[]): void {
    // A peer that has stopped reading its replies gets no more of them (they could not be
    // sent): its requests are dropped unread, before any work or memory is spent on them.
    if (frames.length > 0 && this.outbox.stalled(frames[0] as Buffer)) return;
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
    const fail = (err: unknown) => this.outbox.push(encodeError(request.envelope, request.id, this.toGmError(err)));
    if (this.closing) {
      fail(new GmError(ErrorCode.ShuttingDown, "the server is shutting down; try again shortly", Status.TryAgain));
      return;
    }
    const handler = Object.hasOwn(this.options.handlers, request.command)
      ? this.options.handlers[request.command]
      : undefined;
    if (handler === undefined) {
      const known = Object.keys(this.options.handlers).join(", ");
      fail(new GmError(ErrorCode.UnknownCommand, `unknown command "${request.command}"; this server knows ${known}`));
      return;
    }
    const ok = (body: unknown) => this.outbox.push(encodeReply(request.envelope, request.id, body));
    try {
      const result = handler(this.sign(request));
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
