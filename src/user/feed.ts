import { SUBSCRIPTION_TTL_MS } from "../group/subscribers.js";
import { ErrorCode, Limits, RemoteError } from "../protocol/index.js";
import type { StoredMessage } from "../store/types.js";
import type { GmClient } from "./client.js";

export type FeedState = "live" | "reconnecting";

export interface FeedOptions {
  /** Start with history from this time (UTC ms); with neither this nor `limit`, all history. */
  readonly since?: number;
  /** Start with the newest `limit` messages. */
  readonly limit?: number;
  /** Called once per message, in sequence order, never twice for one seq. */
  readonly onMessage: (message: StoredMessage) => void;
  /** Called when the feed loses or regains its group server. */
  readonly onState?: (state: FeedState, detail: string) => void;
  /** Called once if the feed stops for good (the user is no longer a member, the group is gone). */
  readonly onEnd?: (reason: Error) => void;
}

/**
 * A live view of one group: every message exactly once, in order. Follows the ZeroMQ guide's
 * Clone pattern: subscribe first, then fetch history, then drop duplicates by sequence number; a
 * jump in sequence numbers, a reconnect or a lapsed subscription is repaired from history.
 */
export class Feed {
  private last = 0;
  private started = false;
  private repairing: Promise<void> | undefined;
  private pending: StoredMessage[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private state: FeedState = "live";

  constructor(
    private readonly client: GmClient,
    readonly group: string,
    private readonly options: FeedOptions,
  ) {}

  /** Highest sequence number delivered so far. */
  get lastSeq(): number {
    return this.last;
  }

  /** Subscribes, delivers the requested history, then goes live. */
  async start(): Promise<void> {
    const sub = await this.client.subscribe(this.group);
    const { since, limit } = this.options;
    const history = await this.client.messages(this.group, {
      ...(since !== undefined && { since }),
      ...(limit !== undefined && { limit }),
    });
    for (const m of history) this.deliver(m);
    // Messages before `since` or beyond `limit` are not wanted: start live from what was durable.
    this.last = Math.max(this.last, since !== undefined || limit !== undefined ? sub.last : 0);
    this.started = true;
    await this.repair();
    this.schedule(sub.ttl);
  }

  /** A MESSAGE event for this group arrived. */
  onEvent(message: StoredMessage): void {
    if (this.stopped) return;
    if (!this.started || this.repairing !== undefined) {
      this.pending.push(message);
      return;
    }
    if (message.seq <= this.last) return;
    if (message.seq === this.last + 1) {
      this.deliver(message);
      return;
    }
    this.pending.push(message);
    void this.repair();
  }

  /** The connection to the group server came back: subscribe again and fill the gap. */
  resume(): void {
    if (this.stopped || !this.started) return;
    void this.refresh();
  }

  private deliver(m: StoredMessage): void {
    if (m.seq <= this.last) return;
    this.last = m.seq;
    this.options.onMessage(m);
  }

  /** Fetches everything after the last delivered message, then drains what arrived meanwhile. */
  private repair(): Promise<void> {
    this.repairing ??= (async () => {
      try {
        for (;;) {
          const page = await this.client.page(this.group, { after: this.last, limit: Limits.historyPageMax });
          for (const m of page.messages) this.deliver(m);
          if (!page.more) break;
        }
        const buffered = this.pending.sort((a, b) => a.seq - b.seq);
        this.pending = [];
        for (const m of buffered) {
          if (m.seq === this.last + 1) this.deliver(m);
          else if (m.seq > this.last) this.pending.push(m);
        }
      } finally {
        this.repairing = undefined;
      }
      // Events that raced the last page and still leave a gap: go round once more.
      if (this.pending.length > 0) await this.repair();
    })();
    return this.repairing;
  }

  private schedule(ttl: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh(), Math.max(500, Math.floor(ttl / 3)));
  }

  /** Renews the subscription (it is soft state on the server) and repairs any gap. */
  private async refresh(): Promise<void> {
    try {
      const sub = await this.client.subscribe(this.group);
      if (this.state !== "live") {
        this.state = "live";
        this.options.onState?.("live", `back in touch with "${this.group}"`);
      }
      await this.repair();
      this.schedule(sub.ttl);
    } catch (err) {
      if (err instanceof RemoteError && (err.code === ErrorCode.NotMember || err.code === ErrorCode.UnknownGroup)) {
        this.stop();
        this.options.onEnd?.(err);
        return;
      }
      if (this.state !== "reconnecting") {
        this.state = "reconnecting";
        this.options.onState?.("reconnecting", `lost "${this.group}": ${(err as Error).message}; retrying`);
      }
      this.schedule(SUBSCRIPTION_TTL_MS / 5);
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
