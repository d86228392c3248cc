import * as zmq from "zeromq";
import {
  CancelledError,
  ClosedError,
  decodeReply,
  ErrorCode,
  type ErrorCodeName,
  encodeRequest,
  type Frame,
  HEARTBEAT,
  NO_ROOM_WAIT_MAX_MS,
  NO_ROOM_WAIT_MS,
  REQUEST_TIMEOUT_MS,
  REQUEST_TRIES,
  RemoteError,
  Status,
  type StatusCode,
  TimeoutError,
  TRY_AGAIN_WAIT_MS,
} from "../protocol/index.js";
import { clientProof } from "../protocol/keys.js";
import { Outbox } from "./outbox.js";
import { type ClientSecurity, clientOptions, watchHandshake } from "./security.js";

export interface RpcClientOptions {
  /** How long to wait for each try's reply. */
  readonly timeoutMs?: number;
  /** Tries before giving up with a TimeoutError. */
  readonly tries?: number;
  /** Called each time a connection to the server is (re)established; enables a socket monitor. */
  readonly onConnect?: () => void;
  /** CURVE towards the server, and a proof of the client's key in every request; none: plain text. */
  readonly security?: ClientSecurity;
}

interface Pending {
  readonly frames: Frame[];
  readonly resolve: (body: unknown) => void;
  readonly reject: (err: Error) => void;
  tries: number;
  /** Tries before giving up (the client's, unless the request asked for fewer or more). */
  readonly maxTries: number;
  /** How many `300 STORAGE_FULL` or `BUSY` replies this request has had (each waits longer than the last). */
  full: number;
  readonly timeoutMs: number;
  timer: NodeJS.Timeout;
  /** The caller's signal and what this request listens on it with, removed once it is settled. */
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/** What a request may be given besides its command and body. */
export interface RequestOptions {
  /** How long to wait for each try's reply (default: the client's). */
  readonly timeoutMs?: number | undefined;
  /** How many tries at most (default: the client's). */
  readonly tries?: number | undefined;
  /**
   * Gives up on the request: it rejects at once with CancelledError, is not tried again, and a
   * reply that comes later is dropped.
   */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Request/reply over one DEALER socket, with request ids, a timeout per try and a bounded number
 * of tries. Retries resend the same request id, so a late reply to an earlier try still counts;
 * servers make every request idempotent. Never a REQ socket: a lost reply would lock it up.
 */
export class RpcClient {
  private readonly socket: zmq.Dealer;
  /** Added to every request body: the client's key and its proof for this server. */
  private readonly signature: { key: string; proof: string } | undefined;
  private readonly outbox: Outbox;
  private readonly pending = new Map<string, Pending>();
  private readonly timeoutMs: number;
  private readonly tries: number;
  private nextId = 1;
  private readonly loop: Promise<void>;
  private session = false;
  /** The server key this client's CURVE expects (undefined: plain text). */
  readonly serverKey: string | undefined;

  constructor(
    readonly endpoint: string,
    options: RpcClientOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
    this.tries = options.tries ?? REQUEST_TRIES;
    const security = options.security;
    this.serverKey = security?.serverKey;
    this.socket = new zmq.Dealer({
      linger: 0,
      sendHighWaterMark: 10_000,
      receiveHighWaterMark: 10_000,
      ...HEARTBEAT,
      ...clientOptions(security),
    });
    if (security !== undefined) {
      this.signature = { key: security.keys.publicKey, proof: clientProof(security.keys, security.serverKey) };
    }
    // A failed handshake fails what waits at once: retrying the same way would fail the same way.
    watchHandshake(this.socket, endpoint, security, (err) => this.failAll(err));
    this.outbox = new Outbox(this.socket, () => {});
    const onConnect = options.onConnect;
    this.socket.events.on("handshake", () => {
      this.session = true;
      onConnect?.();
    });
    this.socket.events.on("disconnect", () => {
      this.session = false;
    });
    this.socket.connect(endpoint);
    this.loop = this.receiveLoop();
  }

  /**
   * Whether a connection to the server is up: its handshake succeeded and it has not dropped since.
   * False before the first handshake and while the server is gone (its port refuses, or it closed).
   */
  get connected(): boolean {
    return this.session;
  }

  /**
   * Sends a request and resolves with the reply body; rejects with RemoteError, TimeoutError, or
   * CancelledError when `options.signal` fires first. `timeoutMs` and `tries` replace the
   * client's own for this request.
   */
  request<T = Record<string, unknown>>(command: string, body: unknown, options: RequestOptions = {}): Promise<T> {
    if (this.socket.closed)
      return Promise.reject(new ClosedError(this.endpoint, `client for ${this.endpoint} is closed`));
    const signal = options.signal;
    if (signal?.aborted === true) return Promise.reject(new CancelledError(this.endpoint, false));
    const id = (this.nextId++).toString(36);
    const frames = encodeRequest(
      command,
      id,
      this.signature === undefined ? body : { ...(body as object), ...this.signature },
    );
    return new Promise<T>((resolve, reject) => {
      const entry: Pending = {
        frames,
        resolve: resolve as (b: unknown) => void,
        reject,
        tries: 1,
        maxTries: options.tries ?? this.tries,
        full: 0,
        timeoutMs: options.timeoutMs ?? this.timeoutMs,
        timer: setTimeout(() => this.expire(id), options.timeoutMs ?? this.timeoutMs),
        signal,
        // The request was handed on already: the server may act on it whatever we do now.
        onAbort: () => this.take(id)?.reject(new CancelledError(this.endpoint, true)),
      };
      this.pending.set(id, entry);
      signal?.addEventListener("abort", entry.onAbort, { once: true });
      this.outbox.push(frames);
    });
  }

  /** Removes a request from those waiting, with its timer and its abort listener. */
  private take(id: string): Pending | undefined {
    const entry = this.pending.get(id);
    if (entry === undefined) return undefined;
    clearTimeout(entry.timer);
    entry.signal?.removeEventListener("abort", entry.onAbort);
    this.pending.delete(id);
    return entry;
  }

  private expire(id: string): void {
    const entry = this.pending.get(id);
    if (entry === undefined) return;
    if (entry.tries >= entry.maxTries) {
      this.take(id);
      entry.reject(new TimeoutError(this.endpoint, entry.tries, entry.tries * entry.timeoutMs));
      return;
    }
    entry.tries++;
    entry.timer = setTimeout(() => this.expire(id), entry.timeoutMs);
    this.outbox.push(entry.frames);
  }

  private async receiveLoop(): Promise<void> {
    try {
      for await (const frames of this.socket) {
        const msg = decodeReply(frames);
        if (msg.type === "reply") this.settle(msg.id, msg.status, msg.body);
      }
    } catch {
      // The socket was closed; pending requests are rejected by close().
    }
  }

  private settle(id: string, status: string, body: unknown): void {
    const entry = this.pending.get(id);
    if (entry === undefined) return; // a late duplicate of an answered request
    const err = body as { code?: unknown; message?: unknown };
    const code = (typeof err?.code === "string" ? err.code : ErrorCode.Internal) as ErrorCodeName;
    if (status === Status.TryAgain && entry.tries < entry.maxTries) {
      // The server asked us to come back: after a short pause if it is restarting, after a longer
      // and growing one if its disk is full or it is busy (PROTOCOL.md §10).
      clearTimeout(entry.timer);
      entry.tries++;
      const wait =
        code === ErrorCode.StorageFull || code === ErrorCode.Busy
          ? Math.min(NO_ROOM_WAIT_MS * 2 ** entry.full++, NO_ROOM_WAIT_MAX_MS)
          : TRY_AGAIN_WAIT_MS;
      entry.timer = setTimeout(() => {
        entry.timer = setTimeout(() => this.expire(id), entry.timeoutMs);
        this.outbox.push(entry.frames);
      }, wait);
      return;
    }
    this.take(id);
    if (status === Status.Ok) {
      entry.resolve(body);
      return;
    }
    const message = typeof err?.message === "string" ? err.message : `error ${status}`;
    entry.reject(new RemoteError(code, message, status as StatusCode, this.endpoint));
  }

  private failAll(err: Error): void {
    for (const id of [...this.pending.keys()]) this.take(id)?.reject(err);
  }

  /** Number of requests waiting for a reply. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Rejects what is pending and closes the socket at once (linger 0). */
  async close(): Promise<void> {
    if (this.socket.closed) return;
    for (const id of [...this.pending.keys()]) {
      this.take(id)?.reject(new ClosedError(this.endpoint, `request to ${this.endpoint} abandoned: the client closed`));
    }
    this.socket.close();
    await this.loop;
  }
}
