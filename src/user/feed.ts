import {
  ErrorCode,
  GmError,
  type HistoryPage,
  Limits,
  type StoredMessage,
  type Subscription,
} from "../protocol/index.js";

/** A HISTORY query (PROTOCOL.md §HISTORY): `after` or `before`, `since`, and a page size. */
export interface HistoryQuery {
  readonly since?: number;
  readonly after?: number;
  readonly before?: number;
  readonly limit: number;
}

/** What a feed needs from the client, for its one group. */
export interface FeedSource {
  /** SUBSCRIBE: where live messages are published, how far history reaches; checks membership. */
  subscribe(): Promise<Subscription>;
  /**
   * Receives the group's live messages from `sub` (moving them if the endpoint or topic changed).
   * True once the publisher confirmed the subscription, false if it did not within `timeoutMs`.
   */
  listen(sub: Pick<Subscription, "events" | "topic">, timeoutMs: number): Promise<boolean>;
  /** One page of history. */
  page(query: HistoryQuery): Promise<HistoryPage>;
  /**
   * Runs `run` after about `ms` (the next check-in or retry) and returns what cancels it; the
   * client lines up the feeds of one server on one timer (beat.ts). Default: a timer of its own.
   */
  after?(ms: number, run: () => void): () => void;
}

/**
 * The feed's state, one at a time:
 *
 * ```
 * starting ──▶ catching-up ──▶ live | polling ──(gap, reconnect, new topic, timer)──▶ catching-up
 *                   │                                                            │
 *                   └────(a request failed)──▶ reconnecting ──(retry, reconnect)─┘
 * any ──(stop, LEFT, NOT_MEMBER, UNKNOWN_GROUP)──▶ ended
 * ```
 * - `starting`: first SUBSCRIBE, live subscription and requested history; `start()` rejects if
 *   they fail. Live events are buffered.
 * - `catching-up`: paging history after the last delivered message (after a gap, a reconnect, a
 *   new topic, the periodic check, or the start), SUBSCRIBEing first unless it only fills a gap.
 *   Events are buffered; it goes round again while the buffer still has a gap or a reconnect (or
 *   new topic) came meanwhile.
 * - `live`: caught up, and the publisher confirmed the subscription: in-order events are delivered
 *   at once, a jump in seq starts a catch-up. Checks in every `refresh` ms.
 * - `polling`: like live, but the publisher did not confirm the subscription (its port may be
 *   unreachable), so new messages may only come with the periodic check.
 * - `reconnecting`: a request failed; in-order events are still delivered, the rest buffered, and
 *   the feed checks in again after `retryMs` (or at once when a connection comes back).
 * - `ended`: stopped for good; nothing is delivered any more.
 */
export type FeedState = "starting" | "catching-up" | "live" | "polling" | "reconnecting" | "ended";

/** What a feed tells its owner besides messages; each carries what a clear line needs. */
export type FeedEvent =
  /** The publisher did not confirm the live subscription; new messages come with each check. */
  | { readonly type: "unconfirmed"; readonly group: string; readonly events: string }
  /** A request to the group server failed; the feed retries after `retryMs`. */
  | { readonly type: "lost"; readonly group: string; readonly error: Error; readonly retryMs: number }
  /** Live again after `lost` or `unconfirmed`. */
  | { readonly type: "restored"; readonly group: string }
  /** The feed stopped for good (the user is no longer a member, the group is gone). */
  | { readonly type: "ended"; readonly group: string; readonly reason: Error };

export interface FeedOptions {
  /** Start with history from this time (UTC ms); with neither this nor `limit`, all history. */
  readonly since?: number;
  /** Start with the messages after this seq (e.g. the read marker); with `limit`, the oldest `limit` of them. */
  readonly after?: number;
  /** Start with the newest `limit` messages (of those at or after `since`, if given). */
  readonly limit?: number;
  /** Called once per message, in sequence order, never twice for one seq. */
  readonly onMessage: (message: StoredMessage) => void;
  /** Called when the feed loses or regains its group server, or ends by itself. */
  readonly onEvent?: (event: FeedEvent) => void;
  /** Pause before asking again after the group server did not answer (ms). */
  readonly retryMs?: number;
  /** How long to wait for the publisher to confirm a subscription before going on without it. */
  readonly syncTimeoutMs?: number;
}

const SYNC_TIMEOUT_MS = 3000;
const RETRY_MS = 3000;
/** Live events kept while catching up; more are dropped (history has them). */
const BUFFER_MAX = 10_000;
/** Never check in more often than this, whatever the server asks. */
const REFRESH_MIN_MS = 500;

/** What the current state is, with the data only that state has. */
type State =
  | { readonly name: "starting" }
  /** `from`: the state it settles back to (and compares with to tell the owner); `recheck`: a reconnect came meanwhile. */
  | { readonly name: "catching-up"; readonly from: "starting" | Idle; recheck: boolean }
  | { readonly name: Idle }
  | { readonly name: "ended" };
type Idle = "live" | "polling" | "reconnecting";

/** A failure that following again cannot mend: the user is no longer a member, the group is gone. */
const isFinal = (err: unknown): err is GmError =>
  err instanceof GmError && (err.code === ErrorCode.NotMember || err.code === ErrorCode.UnknownGroup);

/**
 * A live view of one group: every message exactly once, in order. Follows the ZeroMQ guide's
 * Clone pattern: subscribe first (and wait until the publisher has the subscription), then fetch
 * history, then drop duplicates by sequence number. A jump in sequence numbers or a reconnect is
 * repaired from history, and so is anything missed, at the latest on the next periodic check.
 */
export class Feed {
  private state: State = { name: "starting" };
  /** A resume came while starting: the first catch-up checks in again. */
  private resumedWhileStarting = false;
  private last = 0;
  private buffer: StoredMessage[] = [];
  /** Cancels the pending check-in or retry. */
  private cancelTimer: () => void = () => {};
  private refreshMs = REFRESH_MIN_MS;
  /** The events endpoint of the last check-in, for telling the owner which one did not confirm. */
  private events = "";
  /** The topic of the last check-in: a new one means events may have been missed meanwhile. */
  private topic = "";
  private readonly retryMs: number;
  private readonly syncMs: number;

  constructor(
    private readonly source: FeedSource,
    readonly group: string,
    private readonly options: FeedOptions,
  ) {
    this.retryMs = options.retryMs ?? RETRY_MS;
    this.syncMs = options.syncTimeoutMs ?? SYNC_TIMEOUT_MS;
  }

  /** Highest sequence number delivered so far. */
  get lastSeq(): number {
    return this.last;
  }

  /** The current state (see FeedState). */
  get status(): FeedState {
    return this.state.name;
  }

  /**
   * Subscribes, delivers the requested history, then goes live. Rejects if the first SUBSCRIBE or
   * the history fails (the feed is then ended, without an `ended` event); resolves quietly if the
   * feed is stopped meanwhile.
   */
  async start(): Promise<void> {
    let live: boolean;
    try {
      const checked = await this.checkIn();
      live = checked.live;
      if (!this.isEnded()) await this.history(checked.sub);
    } catch (err) {
      if (this.isEnded()) return;
      this.stop();
      throw err;
    }
    if (this.isEnded()) return;
    this.state = { name: "catching-up", from: "starting", recheck: this.resumedWhileStarting };
    await this.catchUp(false, live);
  }

  /** A MESSAGE event for this group arrived. */
  receive(message: StoredMessage): void {
    const s = this.state.name;
    if (s === "ended" || message.seq <= this.last) return;
    if (message.seq === this.last + 1 && (s === "live" || s === "polling" || s === "reconnecting")) {
      this.deliver(message);
      return;
    }
    if (this.buffer.length < BUFFER_MAX) this.buffer.push(message);
    // A gap; while reconnecting the retry timer fills it.
    if (s === "live" || s === "polling") this.catchUpFrom(s, false);
  }

  /**
   * Check in and fill the gap: the connection to the group server or its publisher came back, or
   * the group's topic was retired (a LEFT naming another member) and a new one must be asked for.
   */
  resume(): void {
    const s = this.state;
    if (s.name === "starting") this.resumedWhileStarting = true;
    else if (s.name === "catching-up") s.recheck = true;
    else if (s.name === "live" || s.name === "polling" || s.name === "reconnecting") this.catchUpFrom(s.name, true);
  }

  /** Stops for good and tells the owner why (e.g. the user left the group from elsewhere). */
  end(reason: Error): void {
    if (this.isEnded()) return;
    this.stop();
    this.options.onEvent?.({ type: "ended", group: this.group, reason });
  }

  /** Stops for good, quietly (the owner asked for it). */
  stop(): void {
    this.state = { name: "ended" };
    this.clearTimer();
  }

  private clearTimer(): void {
    this.cancelTimer();
    this.cancelTimer = () => {};
  }

  /** A method, not a property test, so that checks after an `await` are not narrowed away. */
  private isEnded(): boolean {
    return this.state.name === "ended";
  }

  private deliver(m: StoredMessage): void {
    if (m.seq <= this.last || this.isEnded()) return;
    this.last = m.seq;
    this.options.onMessage(m);
  }

  /**
   * SUBSCRIBE, then move or renew the live subscription (not if the feed was stopped meanwhile).
   * `moved`: the events endpoint or the topic is not the one of the last check-in.
   */
  private async checkIn(): Promise<{ readonly sub: Subscription; readonly live: boolean; readonly moved: boolean }> {
    const sub = await this.source.subscribe();
    this.refreshMs = Math.max(REFRESH_MIN_MS, sub.refresh);
    const moved = sub.events !== this.events || sub.topic !== this.topic;
    this.events = sub.events;
    this.topic = sub.topic;
    const live = this.isEnded() ? false : await this.source.listen(sub, this.syncMs);
    return { sub, live, moved };
  }

  /** Delivers the history the owner asked for: all, since a time, or the newest `limit` (since a time). */
  private async history(sub: Subscription): Promise<void> {
    const { since, after, limit } = this.options;
    if (after !== undefined) this.last = after;
    else if (since !== undefined && limit !== undefined) return this.newestSince(sub, since, limit);
    else if (limit !== undefined) this.last = Math.max(0, sub.last - limit);
    let query: Omit<HistoryQuery, "limit"> = since === undefined ? { after: this.last } : { since };
    let left = limit ?? Number.POSITIVE_INFINITY;
    while (left > 0) {
      const page = await this.source.page({ ...query, limit: Math.min(Limits.historyPageMax, left) });
      if (this.isEnded()) return;
      for (const m of page.messages) this.deliver(m);
      left -= page.messages.length;
      if (!page.more || page.messages.length === 0) break;
      query = { after: this.last };
    }
    // Messages before `since` or beyond `limit` are not wanted: go live from what was durable.
    if (since !== undefined || limit !== undefined) this.last = Math.max(this.last, sub.last);
  }

  /** Delivers the newest `limit` messages at or after `since`, found by paging back from `sub.last`. */
  private async newestSince(sub: Subscription, since: number, limit: number): Promise<void> {
    const pages: StoredMessage[][] = [];
    let left = limit;
    let before = sub.last + 1;
    while (left > 0) {
      const page = await this.source.page({ since, before, limit: Math.min(Limits.historyPageMax, left) });
      if (this.isEnded()) return;
      pages.unshift(page.messages);
      left -= page.messages.length;
      const first = page.messages[0];
      if (!page.more || first === undefined) break;
      before = first.seq;
    }
    for (const m of pages.flat()) this.deliver(m);
    this.last = Math.max(this.last, sub.last);
  }

  private catchUpFrom(from: Idle, checkIn: boolean): void {
    this.clearTimer();
    this.state = { name: "catching-up", from, recheck: false };
    // From reconnecting, the server has to be asked first: it may have moved or restarted.
    void this.catchUp(checkIn || from === "reconnecting");
  }

  /**
   * Pages history after the last delivered message and drains the buffer, round after round while
   * a gap or a reconnect is left, then settles. Never rejects: a failure ends the feed or makes it
   * reconnect. `live` is what the last check-in found (none this time: keep what it was).
   */
  private async catchUp(checkIn: boolean, live?: boolean): Promise<void> {
    let again = checkIn;
    try {
      let progress: boolean;
      do {
        let page = true;
        if (again) {
          const checked = await this.checkIn();
          live = checked.live;
          page = !this.quiet(checked);
        }
        const before = this.last;
        if (page) await this.fill();
        const s = this.state;
        if (s.name !== "catching-up") return; // ended meanwhile
        again = s.recheck;
        s.recheck = false;
        // Buffered events history could not reach (a server that published what it does not
        // serve): leave them to the next periodic check rather than asking again at once.
        progress = this.last > before;
      } while (again || (this.buffer.length > 0 && progress));
    } catch (err) {
      if (this.isEnded()) return;
      if (isFinal(err)) this.end(err);
      else this.settle("reconnecting", err instanceof Error ? err : new Error(String(err)));
      return;
    }
    const s = this.state;
    if (s.name !== "catching-up") return;
    // Without a check-in this time (only a gap filled), the live subscription is as it was.
    this.settle(live === undefined ? (s.from === "polling" ? "polling" : "live") : live ? "live" : "polling");
  }

  /**
   * Whether a check-in shows there is nothing to page: no message stored beyond the last one
   * delivered (`last`), none waiting, and the feed was live before it on the same topic, so that
   * whatever is stored after this answer is published to it. Then the periodic check of an idle
   * group costs one SUBSCRIBE, not a HISTORY as well (PROTOCOL.md §9, step 5).
   */
  private quiet(checked: { readonly sub: Subscription; readonly live: boolean; readonly moved: boolean }): boolean {
    const s = this.state;
    const wasLive = s.name === "catching-up" && s.from === "live";
    return wasLive && checked.live && !checked.moved && checked.sub.last <= this.last && this.buffer.length === 0;
  }

  /** Fetches everything after the last delivered message, then drains what arrived meanwhile. */
  private async fill(): Promise<void> {
    for (;;) {
      const page = await this.source.page({ after: this.last, limit: Limits.historyPageMax });
      if (this.isEnded()) return;
      for (const m of page.messages) this.deliver(m);
      if (!page.more || page.messages.length === 0) break;
    }
    const buffered = this.buffer.sort((a, b) => a.seq - b.seq);
    this.buffer = [];
    for (const m of buffered) {
      if (m.seq === this.last + 1) this.deliver(m);
      else if (m.seq > this.last) this.buffer.push(m);
    }
  }

  /** Leaves catching-up for an idle state, tells the owner if that differs from before, sets the timer. */
  private settle(next: Idle, error?: Error): void {
    const s = this.state;
    if (s.name !== "catching-up") return;
    this.state = { name: next };
    if (next !== s.from) {
      if (next === "reconnecting") {
        this.options.onEvent?.({ type: "lost", group: this.group, error: error as Error, retryMs: this.retryMs });
      } else if (next === "polling") {
        this.options.onEvent?.({ type: "unconfirmed", group: this.group, events: this.events });
      } else if (s.from !== "starting") {
        this.options.onEvent?.({ type: "restored", group: this.group });
      }
    }
    const wait = next === "reconnecting" ? this.retryMs : this.refreshMs;
    const due = () => {
      const now = this.state.name;
      if (now === "live" || now === "polling" || now === "reconnecting") this.catchUpFrom(now, true);
    };
    if (this.source.after !== undefined) {
      this.cancelTimer = this.source.after(wait, due);
    } else {
      const timer = setTimeout(due, wait);
      this.cancelTimer = () => clearTimeout(timer);
    }
  }
}
