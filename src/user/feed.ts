import {
  ErrorCode,
  type HistoryPage,
  Limits,
  RemoteError,
  type StoredMessage,
  type Subscription,
} from "../protocol/index.js";

/** What a feed needs from the client that owns it. */
export interface FeedSource {
  subscribe(group: string): Promise<Subscription>;
  listen(group: string, sub: Pick<Subscription, "events" | "topic">, timeoutMs: number): Promise<boolean>;
  messages(group: string, options: { since?: number; limit?: number }): Promise<StoredMessage[]>;
  page(group: string, query: { after: number; limit: number }): Promise<HistoryPage>;
  forget(feed: Feed): void;
}

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
  /** Pause before asking again after the group server did not answer (ms). */
  readonly retryMs?: number;
}

/** How long to wait for the publisher to confirm a subscription before going on without it. */
const SYNC_TIMEOUT_MS = 3000;
/** Pause before asking again after the group server did not answer. */
const RETRY_MS = 3000;

/**
 * A live view of one group: every message exactly once, in order. Follows the ZeroMQ guide's
 * Clone pattern: subscribe first (and wait until the publisher has the subscription), then fetch
 * history, then drop duplicates by sequence number. A jump in sequence numbers or a reconnect is
 * repaired from history, and so is anything missed, at the latest on the next periodic refresh.
 */
export class Feed {
  private last = 0;
  private started = false;
  private repairing: Promise<void> | undefined;
  private refreshing: Promise<void> | undefined;
  private pending: StoredMessage[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private state: FeedState = "live";

  constructor(
    private readonly client: FeedSource,
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
    // Live first, history second: every message is then in the history, arrives live, or both.
    this.noticeLive(await this.client.listen(this.group, sub, SYNC_TIMEOUT_MS), sub.events);
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
    this.schedule(Math.max(500, sub.refresh));
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
    // A repair that fails is not the end: the refresh it schedules retries it.
    this.repair().catch((err: unknown) => this.lost(err));
  }

  /** The connection to the group server or its publisher came back: check in and fill the gap. */
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

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh(), ms);
  }

  private setState(state: FeedState, detail: string): void {
    if (this.state === state) return;
    this.state = state;
    this.options.onState?.(state, detail);
  }

  private noticeLive(live: boolean, events: string): void {
    if (live) this.setState("live", `back in touch with "${this.group}"`);
    else {
      this.setState(
        "reconnecting",
        `no live messages from ${events} yet (can this machine reach that port?); checking for new ones every few seconds`,
      );
    }
  }

  /**
   * Checks in with the group server (where are live messages published, how far does history
   * reach), renews the live subscription and fetches whatever was missed.
   */
  private refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const sub = await this.client.subscribe(this.group);
        if (this.stopped) return;
        this.noticeLive(await this.client.listen(this.group, sub, SYNC_TIMEOUT_MS), sub.events);
        await this.repair();
        this.schedule(Math.max(500, sub.refresh));
      } catch (err) {
        this.lost(err);
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  /** A request to the group server failed: end if that was final, else retry soon. */
  private lost(err: unknown): void {
    if (this.stopped) return;
    if (err instanceof RemoteError && (err.code === ErrorCode.NotMember || err.code === ErrorCode.UnknownGroup)) {
      this.end(err);
      return;
    }
    this.setState("reconnecting", `lost "${this.group}": ${(err as Error).message}; retrying`);
    this.schedule(this.options.retryMs ?? RETRY_MS);
  }

  /** Stops for good, telling the owner why (e.g. the user left the group elsewhere). */
  end(reason: Error): void {
    if (this.stopped) return;
    this.stop();
    this.client.forget(this);
    this.options.onEnd?.(reason);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
