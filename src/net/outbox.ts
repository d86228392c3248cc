import type { Writable } from "zeromq";

/**
 * Serializes sends on one socket: zeromq.js allows only one pending send per socket, while
 * replies here are produced by handlers that finish in any order.
 */
export class Outbox {
  private items: (Buffer[] | undefined)[] = [];
  private head = 0;
  private busy = false;

  constructor(
    private readonly socket: Writable,
    private readonly onError: (err: unknown) => void,
  ) {}

  get length(): number {
    return this.items.length - this.head;
  }

  push(frames: Buffer[]): void {
    this.items.push(frames);
    if (!this.busy) void this.drain();
  }

  private async drain(): Promise<void> {
    this.busy = true;
    try {
      while (this.head < this.items.length) {
        const frames = this.items[this.head] as Buffer[];
        this.items[this.head++] = undefined;
        try {
          await this.socket.send(frames);
        } catch (err) {
          this.onError(err);
        }
      }
      this.items = [];
      this.head = 0;
    } finally {
      this.busy = false;
    }
  }

  /** Resolves when everything pushed so far has been handed to the socket. */
  async flushed(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.busy && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  }
}
