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
 * Serializes sends on one socket: zeromq.js allows only one pending send per socket, while
 * replies here are produced by handlers that finish in any order. Replies go before live events,
 * so a burst of fan-out never delays an acknowledgement; the event queue is bounded.
 */
export class Outbox {
  private readonly replies = new Fifo();
  private readonly events = new Fifo();
  private busy = false;
  /** Callers of pushAndWait, in the order of their replies. */
  private readonly waiters: Array<[Frame[], () => void]> = [];

  constructor(
    private readonly socket: Writable,
    private readonly onError: (err: unknown) => void,
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
      while (this.length > 0) {
        const frames = this.replies.length > 0 ? this.replies.take() : this.events.take();
        try {
          await this.socket.send(frames);
        } catch (err) {
          this.onError(err);
        }
        if (this.waiters.length > 0 && this.waiters[0]?.[0] === frames) this.waiters.shift()?.[1]();
      }
    } finally {
      this.busy = false;
    }
  }

  /** Resolves when everything pushed so far has been handed to the socket (or the time is up). */
  async flushed(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.busy && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  }
}
