import type { Writable } from "zeromq";
import type { Frame } from "../protocol/codec.js";

/** A FIFO of frame sets that does not shift arrays (O(1) take). */
class Fifo {
  private items: (Frame[] | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(frames: Frame[]): void {
    this.items.push(frames);
  }

  peek(): Frame[] {
    return this.items[this.head] as Frame[];
  }

  take(): Frame[] {
    const frames = this.items[this.head] as Frame[];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    }
    return frames;
  }
}

/** Events that may wait in one process before new ones are dropped (members then see a gap). */
export const MAX_QUEUED_EVENTS = 50_000;

/**
 * Bounds of the replies that wait here for a peer whose ZeroMQ queue is full (a ROUTER with
 * ROUTER_MANDATORY refuses a send to such a peer with EAGAIN instead of dropping it).
 */
export interface BacklogLimits {
  /** Bytes that may wait for one peer; a reply beyond it is dropped (the client's retry asks again). */
  readonly peerBytes: number;
  /** Bytes that may wait for all peers together. */
  readonly totalBytes: number;
}

/** A peer's waiting replies. */
interface Backlog {
  readonly items: Fifo;
  bytes: number;
  /** When ZeroMQ last took a reply for this peer (performance.now()). */
  movedAt: number;
  /** Until then the peer counts as not reading: its requests are dropped unanswered. */
  stalledUntil: number;
}

/**
 * A peer whose queue took nothing for this long is not reading: what waits for it is dropped (its
 * client retries, if it is still there) and so are its requests for STALLED_PAUSE_MS, after which
 * it is given another chance. What ZeroMQ already holds for it is freed when the connection goes
 * (a peer that reads nothing misses its ZMTP heartbeats and is dropped within seconds; TCP gives
 * up on it too). Long enough that a client paused by a busy machine or a GC is not taken for one:
 * memory is bounded by the backlog limits whatever this is.
 */
export const STALLED_AFTER_MS = 5000;
const STALLED_PAUSE_MS = 1000;

/** Pauses before a full peer is tried again while it makes no progress, in ms (at once while it does). */
const RETRY_FIRST_MS = 1;
const RETRY_LONGEST_MS = 50;

/** A frame's size in bytes: exact for buffers, for strings the UTF-16 length (exact for ASCII JSON). */
function frameBytes(frames: readonly Frame[]): number {
  let n = 0;
  for (const f of frames) n += typeof f === "string" ? (f.length > 4096 ? Buffer.byteLength(f) : f.length) : f.length;
  return n;
}

function errorCode(err: unknown): string | undefined {
  return (err as { code?: string } | undefined)?.code;
}

/**
 * Serializes sends on one socket: zeromq.js allows only one pending send per socket, while
 * replies here are produced by handlers that finish in any order. Replies go before live events,
 * so a burst of fan-out never delays an acknowledgement; the event queue is bounded.
 *
 * With `backlog` (a ROUTER with ROUTER_MANDATORY and a small send high-water mark), a reply to a
 * peer whose ZeroMQ queue is full waits here, per peer, in order and bounded in bytes, and is
 * tried again a moment later; a peer that has stopped reading thus holds at most its high-water
 * mark of replies inside ZeroMQ plus `peerBytes` here. A reply for a peer that is gone is dropped.
 */
export class Outbox {
  private readonly replies = new Fifo();
  private readonly events = new Fifo();
  private busy = false;
  /** Callers of pushAndWait, in the order of their replies. */
  private readonly waiters: Array<[Frame[], () => void]> = [];
  private readonly backlogs = new Map<string, Backlog>();
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = 0;
  private retryImmediate: NodeJS.Immediate | undefined;
  private retryDue = false;
  /** Bytes of replies waiting in backlogs now. */
  private backlogBytes = 0;

  constructor(
    private readonly socket: Writable & { readonly closed: boolean },
    private readonly onError: (err: unknown) => void,
    private readonly backlog?: BacklogLimits,
  ) {}

  get length(): number {
    return this.replies.length + this.events.length;
  }

  push(frames: Frame[]): void {
    this.replies.push(frames);
    if (!this.busy) void this.drain();
  }

  /** Queues a reply and resolves once it has been handed to the socket (or failed to be). */
  pushAndWait(frames: Frame[]): Promise<void> {
    return new Promise((resolve) => {
      this.push(frames);
      this.waiters.push([frames, resolve]);
    });
  }

  /** Queues an event; false when the event queue is full and it was dropped. */
  pushEvent(frames: Frame[]): boolean {
    if (this.events.length >= MAX_QUEUED_EVENTS) return false;
    this.events.push(frames);
    if (!this.busy) void this.drain();
    return true;
  }

  private async drain(): Promise<void> {
    this.busy = true;
    try {
      while (this.length > 0 || this.retryDue) {
        if (this.retryDue) {
          this.retryDue = false;
          await this.retryBacklogs();
          continue;
        }
        const frames = this.replies.length > 0 ? this.replies.take() : this.events.take();
        if (this.backlogs.size > 0 && this.defer(frames)) continue;
        try {
          await this.send(frames);
        } catch (err) {
          // A socket closed under a send (a server stopping) is not worth a log line.
          if (!this.socket.closed && (this.backlog === undefined || !this.held(frames, err))) this.onError(err);
        }
        if (this.waiters.length > 0 && this.waiters[0]?.[0] === frames) this.waiters.shift()?.[1]();
      }
    } finally {
      this.busy = false;
    }
  }

  /**
   * Sends; with a backlog, an EAGAIN is tried once more after making libzmq take in what its I/O
   * thread has told it: a socket learns that a peer read its queue only when it processes its
   * commands, which a send does at most about once a millisecond, while reading the socket's
   * `writable` (ZMQ_EVENTS) always does. So a burst to a peer that does read (a client with 100
   * requests in flight) is not held back behind a stale count.
   */
  private async send(frames: Frame[]): Promise<void> {
    try {
      await this.socket.send(frames);
    } catch (err) {
      if (this.backlog === undefined || errorCode(err) !== "EAGAIN") throw err;
      void (this.socket as unknown as { readonly writable: boolean }).writable;
      await this.socket.send(frames);
    }
  }

  /** The peer of a reply: its routing id, the first frame. */
  private static peerOf(frames: readonly Frame[]): string {
    const id = frames[0];
    return typeof id === "string" ? id : (id?.toString("latin1") ?? "");
  }

  /**
   * Whether this peer (by routing id) is not keeping up: its ZeroMQ queue is full and half its
   * backlog (or half of all backlogs) is used, or it was found not reading. A reply to it would
   * most likely be dropped, so its requests are not worth the work and memory of answering.
   */
  stalled(routingId: Buffer): boolean {
    if (this.backlogs.size === 0) return false;
    const backlog = this.backlogs.get(routingId.toString("latin1"));
    if (backlog === undefined) return false;
    const limits = this.backlog as BacklogLimits;
    return (
      backlog.bytes >= limits.peerBytes / 2 ||
      this.backlogBytes >= limits.totalBytes / 2 ||
      backlog.stalledUntil > performance.now()
    );
  }

  /** Puts a reply behind the ones already waiting for its peer; false when none wait. */
  private defer(frames: Frame[]): boolean {
    const backlog = this.backlogs.get(Outbox.peerOf(frames));
    if (backlog === undefined) return false;
    this.enqueue(backlog, frames);
    return true;
  }

  /** Whether a failed send was kept (peer full) or is to be dropped silently (peer gone). */
  private held(frames: Frame[], err: unknown): boolean {
    const code = errorCode(err);
    if (code === "EHOSTUNREACH") return true; // The peer disconnected: nobody to answer.
    if (code !== "EAGAIN") return false;
    const peer = Outbox.peerOf(frames);
    let backlog = this.backlogs.get(peer);
    if (backlog === undefined) {
      backlog = { items: new Fifo(), bytes: 0, movedAt: performance.now(), stalledUntil: 0 };
      this.backlogs.set(peer, backlog);
    }
    this.enqueue(backlog, frames);
    this.scheduleRetry();
    return true;
  }

  private enqueue(backlog: Backlog, frames: Frame[]): void {
    const limits = this.backlog as BacklogLimits;
    const bytes = frameBytes(frames);
    // Beyond the limits the reply is dropped: the client's retry asks again.
    if (backlog.bytes + bytes > limits.peerBytes || this.backlogBytes + bytes > limits.totalBytes) return;
    backlog.items.push(frames);
    backlog.bytes += bytes;
    this.backlogBytes += bytes;
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== undefined || this.retryImmediate !== undefined || this.socket.closed) return;
    const run = () => {
      this.retryTimer = undefined;
      this.retryImmediate = undefined;
      this.retryDue = true;
      if (!this.busy) void this.drain();
    };
    if (this.retryMs === 0) {
      this.retryImmediate = setImmediate(run);
      return;
    }
    this.retryTimer = setTimeout(run, this.retryMs);
    this.retryTimer.unref();
  }

  /**
   * Hands each waiting peer's replies to ZeroMQ until its queue is full again (run by `drain`, so
   * sends stay one at a time). Peers that stay full are tried less and less often, up to every
   * RETRY_LONGEST_MS.
   */
  private async retryBacklogs(): Promise<void> {
    if (this.socket.closed) return this.clearBacklogs();
    let moved = false;
    const now = performance.now();
    for (const [peer, backlog] of this.backlogs) {
      while (backlog.items.length > 0) {
        const frames = backlog.items.peek();
        try {
          await this.send(frames);
        } catch (err) {
          const code = errorCode(err);
          if (code === "EAGAIN") break;
          if (code !== "EHOSTUNREACH") this.onError(err);
          // Gone (or broken): nothing more for this peer.
          this.forget(backlog);
          break;
        }
        backlog.items.take();
        const bytes = frameBytes(frames);
        backlog.bytes -= bytes;
        this.backlogBytes -= bytes;
        backlog.movedAt = now;
        moved = true;
      }
      if (backlog.items.length > 0 && now - backlog.movedAt >= STALLED_AFTER_MS) {
        this.forget(backlog);
        backlog.stalledUntil = now + STALLED_PAUSE_MS;
      }
      if (backlog.items.length === 0 && backlog.stalledUntil <= now) this.backlogs.delete(peer);
    }
    this.retryMs = moved ? 0 : Math.min(RETRY_LONGEST_MS, Math.max(RETRY_FIRST_MS, this.retryMs * 2));
    if (this.backlogs.size > 0) this.scheduleRetry();
  }

  /** Drops what waits for one peer. */
  private forget(backlog: Backlog): void {
    this.backlogBytes -= backlog.bytes;
    backlog.bytes = 0;
    while (backlog.items.length > 0) backlog.items.take();
  }

  private clearBacklogs(): void {
    this.backlogs.clear();
    this.backlogBytes = 0;
  }

  /** Resolves when everything pushed so far has been handed to the socket (or the time is up). */
  async flushed(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while ((this.busy || this.backlogBytes > 0) && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  }

  /** Stops retrying and forgets what waits (the socket is closing). */
  stop(): void {
    clearTimeout(this.retryTimer);
    clearImmediate(this.retryImmediate);
    this.retryTimer = undefined;
    this.retryImmediate = undefined;
    this.clearBacklogs();
  }
}
