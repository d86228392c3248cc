import type { Writable } from "zeromq";
import type { Frame } from "../protocol/codec.js";

/** A FIFO that does not shift arrays (O(1) take). */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T {
    return this.items[this.head] as T;
  }

  take(): T {
    const item = this.items[this.head] as T;
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    }
    return item;
  }
}

/** A reply on its way: its frames, its size in bytes and whom it answers (counted only with a budget). */
interface Reply {
  readonly frames: Frame[];
  readonly bytes: number;
  /** The identity the reply is counted against (ReplyBudget.shareBytes). */
  readonly who: string;
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

/**
 * The budget of a server's replies in memory, whatever the number of peers: the bytes of replies
 * queued here, waiting for a full peer, or handed to ZeroMQ and possibly still held there.
 *
 * ZeroMQ tells nobody when a peer has read a reply. What it does tell: a send to a peer fails
 * with EAGAIN while the peer's queue holds its send high-water mark of messages, and with
 * EHOSTUNREACH once the peer is gone. So after a send succeeds, ZeroMQ holds at most
 * `peerReplies` of that peer's replies (the high-water mark, plus the one its I/O thread is
 * writing): the last ones handed to it. Those are what is counted for a peer until it is gone
 * (found by a send failing with EHOSTUNREACH; `probe` makes one happen) or later replies push
 * them out. The count is never below what ZeroMQ holds; it is above it for a peer that did read
 * them, until its next replies or its departure.
 */
export interface ReplyBudget {
  /** Bytes of replies for all peers together. */
  readonly totalBytes: number;
  /** Bytes of replies counted against one identity (ReplyBudget users pass one with each reply). */
  readonly shareBytes: number;
  /** The most replies ZeroMQ may hold for one peer. */
  readonly peerReplies: number;
}

/** The last replies handed to ZeroMQ for one peer, as a ring of `peerReplies` slots. */
interface Held {
  readonly bytes: number[];
  readonly who: string[];
  next: number;
  total: number;
}

/** A peer's waiting replies. */
interface Backlog {
  readonly items: Fifo<Reply>;
  bytes: number;
  /** When ZeroMQ last took a reply for this peer (performance.now()). */
  movedAt: number;
  /** Until then the peer counts as not reading: its requests are dropped unanswered. */
  stalledUntil: number;
  /** A reply sent to find out whether the peer is still there (`probe`), tried until it is known. */
  probe?: Reply | undefined;
}

/**
 * A peer whose queue took nothing for this long is not reading: what waits for it is dropped (its
 * client retries, if it is still there) and so are its requests for STALLED_PAUSE_MS, after which
 * it is given another chance. What ZeroMQ already holds for it is freed when the connection goes
 * (TCP gives up on a peer whose receive window stays shut: ZMQ_TCP_MAXRT). Long enough that a
 * client paused by a busy machine or a GC is not taken for one: memory is bounded by the backlog
 * limits and the reply budget whatever this is.
 */
export const STALLED_AFTER_MS = 5000;
const STALLED_PAUSE_MS = 1000;

/** Pauses before a full peer is tried again while it makes no progress, in ms (at once while it does). */
const RETRY_FIRST_MS = 1;
const RETRY_LONGEST_MS = 50;

/** Strings longer than this are measured in UTF-8 bytes; shorter ones by their length (exact for ASCII). */
const MEASURE_CHARS = 4096;

/** A frame's size in bytes: exact for buffers, for strings the UTF-16 length (exact for ASCII JSON). */
export function frameBytes(frames: readonly Frame[]): number {
  let n = 0;
  for (const f of frames)
    n += typeof f === "string" ? (f.length > MEASURE_CHARS ? Buffer.byteLength(f) : f.length) : f.length;
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
 * With `budget` as well, every reply is counted from the moment it is pushed until ZeroMQ can no
 * longer hold it (ReplyBudget), and `room` says whether a reply of a given size still fits.
 */
export class Outbox {
  private readonly replies = new Fifo<Reply>();
  private readonly events = new Fifo<Frame[]>();
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
  /** With a budget: bytes of replies pushed and not yet handed to ZeroMQ nor to a backlog. */
  private pendingBytes = 0;
  /** With a budget: the replies ZeroMQ may hold, per peer, and their bytes in all. */
  private readonly held = new Map<string, Held>();
  private heldBytes = 0;
  /** With a budget: bytes counted (pending, waiting or held) per identity. */
  private readonly byWho = new Map<string, number>();

  constructor(
    private readonly socket: Writable & { readonly closed: boolean },
    private readonly onError: (err: unknown) => void,
    private readonly backlog?: BacklogLimits,
    private readonly budget?: ReplyBudget,
  ) {}

  get length(): number {
    return this.replies.length + this.events.length;
  }

  /** Queues a reply; `who` is the identity it counts against (with a budget). */
  push(frames: Frame[], who = ""): void {
    let bytes = 0;
    if (this.budget !== undefined) {
      bytes = frameBytes(frames);
      this.pendingBytes += bytes;
      this.count(who, bytes);
    }
    this.replies.push({ frames, bytes, who });
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

  /**
   * Whether a reply of `bytes` counted against `who` fits in the budget now (always, without one).
   * Returns which limit it would pass: "total", "share", or undefined when it fits.
   */
  overBudget(bytes: number, who: string): "total" | "share" | undefined {
    const budget = this.budget;
    if (budget === undefined) return undefined;
    if (this.pendingBytes + this.backlogBytes + this.heldBytes + bytes > budget.totalBytes) return "total";
    if ((this.byWho.get(who) ?? 0) + bytes > budget.shareBytes) return "share";
    return undefined;
  }

  /**
   * Sends a reply meant to find out whether its peer is still connected (ROUTER_NOTIFY's notice
   * of a disconnection is answered with one): if what is counted for the peer is not freed by a
   * failure of this send (EHOSTUNREACH), it is tried again like a backlog, until ZeroMQ takes it
   * (the peer is there, and has it) or refuses it as gone.
   */
  probe(frames: Frame[]): void {
    const peer = Outbox.peerOf(frames);
    if (this.budget === undefined || (!this.held.has(peer) && !this.backlogs.has(peer))) {
      this.push(frames);
      return;
    }
    const backlog = this.backlogOf(peer);
    if (backlog.probe !== undefined) {
      this.count(backlog.probe.who, -backlog.probe.bytes);
      this.backlogBytes -= backlog.probe.bytes;
    }
    const bytes = frameBytes(frames);
    backlog.probe = { frames, bytes, who: "" };
    this.count("", bytes);
    this.backlogBytes += bytes;
    this.scheduleRetry();
  }

  private count(who: string, bytes: number): void {
    if (this.budget === undefined || bytes === 0) return;
    const n = (this.byWho.get(who) ?? 0) + bytes;
    if (n <= 0) this.byWho.delete(who);
    else this.byWho.set(who, n);
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
        if (this.replies.length === 0) {
          const frames = this.events.take();
          try {
            await this.send(frames);
          } catch (err) {
            if (!this.socket.closed) this.onError(err);
          }
          continue;
        }
        const reply = this.replies.take();
        this.pendingBytes -= reply.bytes;
        if (this.backlogs.size > 0 && this.defer(reply)) continue;
        try {
          await this.send(reply.frames);
          this.sent(reply);
        } catch (err) {
          // A socket closed under a send (a server stopping) is not worth a log line.
          if (this.backlog === undefined || !this.keep(reply, err)) {
            this.count(reply.who, -reply.bytes);
            if (!this.socket.closed) this.onError(err);
          }
        }
        if (this.waiters.length > 0 && this.waiters[0]?.[0] === reply.frames) this.waiters.shift()?.[1]();
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
      this.takeInCommands();
      await this.socket.send(frames);
    }
  }

  private takeInCommands(): void {
    void (this.socket as unknown as { readonly writable: boolean }).writable;
  }

  /** Counts a reply ZeroMQ took: it may hold it until `peerReplies` later ones have followed. */
  private sent(reply: Reply): void {
    const budget = this.budget;
    if (budget === undefined) return;
    const peer = Outbox.peerOf(reply.frames);
    let held = this.held.get(peer);
    if (held === undefined) {
      held = {
        bytes: new Array(budget.peerReplies).fill(0),
        who: new Array(budget.peerReplies).fill(""),
        next: 0,
        total: 0,
      };
      this.held.set(peer, held);
    }
    const i = held.next;
    const old = held.bytes[i] as number;
    if (old > 0) this.count(held.who[i] as string, -old);
    held.bytes[i] = reply.bytes;
    held.who[i] = reply.who;
    held.next = (i + 1) % budget.peerReplies;
    held.total += reply.bytes - old;
    this.heldBytes += reply.bytes - old;
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
  private defer(reply: Reply): boolean {
    const backlog = this.backlogs.get(Outbox.peerOf(reply.frames));
    if (backlog === undefined) return false;
    this.enqueue(backlog, reply);
    return true;
  }

  private backlogOf(peer: string): Backlog {
    let backlog = this.backlogs.get(peer);
    if (backlog === undefined) {
      backlog = { items: new Fifo(), bytes: 0, movedAt: performance.now(), stalledUntil: 0 };
      this.backlogs.set(peer, backlog);
    }
    return backlog;
  }

  /** Whether a failed send was kept (peer full) or dealt with (peer gone: what it held is freed). */
  private keep(reply: Reply, err: unknown): boolean {
    const code = errorCode(err);
    if (code === "EHOSTUNREACH") {
      // The peer disconnected: nobody to answer, and nothing of it left in ZeroMQ.
      this.count(reply.who, -reply.bytes);
      this.release(Outbox.peerOf(reply.frames));
      return true;
    }
    if (code !== "EAGAIN") return false;
    this.enqueue(this.backlogOf(Outbox.peerOf(reply.frames)), reply);
    this.scheduleRetry();
    return true;
  }

  private enqueue(backlog: Backlog, reply: Reply): void {
    const limits = this.backlog as BacklogLimits;
    const bytes = reply.bytes > 0 ? reply.bytes : frameBytes(reply.frames);
    // Beyond the limits the reply is dropped: the client's retry asks again.
    if (backlog.bytes + bytes > limits.peerBytes || this.backlogBytes + bytes > limits.totalBytes) {
      this.count(reply.who, -reply.bytes);
      return;
    }
    // Sent again and again until the peer takes it: as a buffer, ZeroMQ takes it without a copy.
    const frames = reply.frames.map((f) => (typeof f === "string" && f.length > MEASURE_CHARS ? Buffer.from(f) : f));
    backlog.items.push({ frames, bytes, who: reply.who });
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
    let probed = false;
    for (const [peer, backlog] of this.backlogs) {
      const probe = backlog.probe;
      if (probe !== undefined) {
        // A departing peer's pipe is torn down by the socket when it processes its commands.
        if (!probed) this.takeInCommands();
        probed = true;
        try {
          await this.socket.send(probe.frames);
          backlog.probe = undefined;
          this.backlogBytes -= probe.bytes;
          this.sent(probe);
        } catch (err) {
          const code = errorCode(err);
          if (code === "EHOSTUNREACH") {
            this.release(peer);
            continue;
          }
          if (code === "EAGAIN") {
            this.stall(peer, backlog, now);
            continue;
          }
          if (!this.socket.closed) this.onError(err);
          backlog.probe = undefined;
          this.backlogBytes -= probe.bytes;
          this.count(probe.who, -probe.bytes);
        }
      }
      while (backlog.items.length > 0) {
        const reply = backlog.items.peek();
        try {
          await this.send(reply.frames);
        } catch (err) {
          const code = errorCode(err);
          if (code === "EAGAIN") break;
          if (code !== "EHOSTUNREACH") this.onError(err);
          // Gone (or broken): nothing more for this peer.
          if (code === "EHOSTUNREACH") this.release(peer);
          else this.forget(backlog);
          break;
        }
        backlog.items.take();
        backlog.bytes -= reply.bytes;
        this.backlogBytes -= reply.bytes;
        this.sent(reply);
        backlog.movedAt = now;
        moved = true;
      }
      this.stall(peer, backlog, now);
    }
    this.retryMs = moved ? 0 : Math.min(RETRY_LONGEST_MS, Math.max(RETRY_FIRST_MS, this.retryMs * 2));
    if (this.backlogs.size > 0) this.scheduleRetry();
  }

  /** Gives up on a peer's waiting replies once it has taken nothing for STALLED_AFTER_MS. */
  private stall(peer: string, backlog: Backlog, now: number): void {
    if (this.backlogs.get(peer) !== backlog) return; // released meanwhile
    if (backlog.items.length > 0 && now - backlog.movedAt >= STALLED_AFTER_MS) {
      this.forget(backlog);
      backlog.stalledUntil = now + STALLED_PAUSE_MS;
    }
    if (backlog.items.length === 0 && backlog.stalledUntil <= now && backlog.probe === undefined) {
      this.backlogs.delete(peer);
    }
  }

  /** Drops what waits for one peer (not its probe). */
  private forget(backlog: Backlog): void {
    while (backlog.items.length > 0) {
      const reply = backlog.items.take();
      this.count(reply.who, -reply.bytes);
    }
    this.backlogBytes -= backlog.bytes;
    backlog.bytes = 0;
  }

  /** Forgets a peer that is gone: what waits for it, and what ZeroMQ held for it. */
  private release(peer: string): void {
    const backlog = this.backlogs.get(peer);
    if (backlog !== undefined) {
      this.forget(backlog);
      if (backlog.probe !== undefined) {
        this.backlogBytes -= backlog.probe.bytes;
        this.count(backlog.probe.who, -backlog.probe.bytes);
      }
      this.backlogs.delete(peer);
    }
    const held = this.held.get(peer);
    if (held === undefined) return;
    for (let i = 0; i < held.bytes.length; i++) this.count(held.who[i] as string, -(held.bytes[i] as number));
    this.heldBytes -= held.total;
    this.held.delete(peer);
  }

  private clearBacklogs(): void {
    this.backlogs.clear();
    this.backlogBytes = 0;
    this.held.clear();
    this.heldBytes = 0;
    this.byWho.clear();
  }

  /** Resolves when everything pushed so far has been handed to the socket (or the time is up). */
  async flushed(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while ((this.busy || this.backlogItems() > 0) && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  }

  private backlogItems(): number {
    let n = 0;
    for (const b of this.backlogs.values()) n += b.items.length;
    return n;
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
