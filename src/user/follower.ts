import { ClosedError, ErrorCode, GmError, HandshakeError, Status, type StoredMessage } from "../protocol/index.js";
import { groupNameKey } from "../protocol/validate.js";
import type { GmClient } from "./client.js";
import type { FeedEvent } from "./feed.js";

export interface FollowerOptions {
  /**
   * Where each group's feed starts (FeedOptions: from this time, or the newest `limit`; neither:
   * all history). A group added after the follower began (joined meanwhile) starts from when it
   * was joined, or from `since` if that is later.
   */
  readonly since?: number;
  readonly limit?: number;
  /** Every message of every followed group, once and in order within its group. */
  readonly onMessage: (group: string, message: StoredMessage) => void;
  /**
   * What the feeds report (lost, restored, unconfirmed, ended), and the same for a group whose
   * first SUBSCRIBE failed in a way a retry may mend: `lost`, then `restored` once it follows.
   */
  readonly onEvent: (event: FeedEvent) => void;
  /** A group that cannot be followed and will not be tried again (not joined, no such group). */
  readonly onError: (group: string, error: Error) => void;
  /** A group now followed because the profile shows it joined (mostly by another process). */
  readonly onJoined?: (group: string) => void;
  /** Pause before trying again a group whose first SUBSCRIBE failed (ms). */
  readonly retryMs?: number;
}

const RETRY_MS = 5000;

/** Whether a failure to start following may pass: the server did not answer, or said "later". */
const worthRetrying = (err: unknown): boolean =>
  err instanceof HandshakeError ||
  (err instanceof GmError &&
    !(err instanceof ClosedError) &&
    (err.status === Status.TryAgain || err.status === Status.ServerError));

/**
 * Follows several groups at once, over one client (so the groups of one server share its RPC
 * connection, its events socket and its check-in timer): given groups, or every group the profile
 * is in, including those joined from other processes while it runs (`followAll`). A group left
 * from another process stops being followed (an `ended` event), by the LEFT event its server
 * publishes or, if that does not come, by the profile's change.
 */
export class Follower {
  private readonly began = Date.now();
  /** The groups this follower is following or trying to, by name key, with their spelling. */
  private readonly wanted = new Map<string, string>();
  /** Retries of groups whose first SUBSCRIBE failed, by name key. */
  private readonly retries = new Map<string, NodeJS.Timeout>();
  /** In `followAll`: each joined group (by name key) with its join time, as last read. */
  private known: Map<string, number> | undefined;
  private stopWatching: (() => void) | undefined;
  private stopped = false;

  constructor(
    private readonly client: GmClient,
    private readonly options: FollowerOptions,
  ) {}

  /** The groups followed now or waiting for a retry, as spelled in the profile. */
  get groups(): string[] {
    return [...this.wanted.values()].sort();
  }

  /**
   * Follows the given groups from `since` / `limit`; resolves once each has started, failed (told
   * through `onError`) or is waiting for a retry (told through `onEvent`).
   */
  async follow(groups: readonly string[]): Promise<void> {
    await Promise.all(groups.map((g) => this.add(g, false)));
  }

  /**
   * Follows every group the profile is in, and from then on follows the groups joined and stops
   * those left from other processes (the profile file is watched). Resolves once the groups
   * joined now have started (see `follow`).
   */
  async followAll(): Promise<void> {
    // Watching first: a save made while the groups are read is then seen by the next poll.
    this.stopWatching = this.client.profile.watch(() => this.profileChanged());
    const groups = this.client.groups();
    this.known = new Map(groups.map((g) => [groupNameKey(g.name), g.joined]));
    await this.follow(groups.map((g) => g.name));
  }

  /**
   * Follows one more group (e.g. just joined by the shell), from when it was joined, unless it is
   * followed already. Resolves as `follow` does.
   */
  async add(group: string, later = true): Promise<void> {
    await this.start(group, later, false);
  }

  /** Stops following every group and watching the profile. */
  stop(): void {
    this.stopped = true;
    this.stopWatching?.();
    for (const timer of this.retries.values()) clearTimeout(timer);
    this.retries.clear();
    for (const group of this.wanted.values()) this.client.unfollow(group);
    this.wanted.clear();
  }

  /** Starts following a group (or tries again); true if it is followed now and was not before. */
  private async start(asked: string, later: boolean, retry: boolean): Promise<boolean> {
    const group = this.client.spelled(asked);
    const key = groupNameKey(group);
    if (this.stopped || (!retry && (this.client.following(group) || this.retries.has(key)))) return false;
    this.retries.delete(key);
    this.wanted.set(key, group);
    const joined = this.client.profile.data.groups[group]?.joined ?? this.began;
    const { since, limit, onMessage, onEvent } = this.options;
    const from = later
      ? { since: Math.max(this.began, since ?? 0, joined) }
      : {
          ...(since !== undefined && { since }),
          ...(limit !== undefined && { limit }),
        };
    try {
      await this.client.follow(group, {
        ...from,
        onMessage: (m) => onMessage(group, m),
        onEvent: (event) => {
          if (event.type === "ended" && this.wanted.get(key) === group) this.wanted.delete(key);
          onEvent(event);
        },
      });
    } catch (err) {
      if (this.stopped || this.wanted.get(key) !== group) return false;
      const error = err instanceof Error ? err : new Error(String(err));
      if (!worthRetrying(err)) {
        this.wanted.delete(key);
        this.options.onError(group, error);
        return false;
      }
      const retryMs = this.options.retryMs ?? RETRY_MS;
      if (!retry) onEvent({ type: "lost", group, error, retryMs });
      const timer = setTimeout(() => void this.retried(group, later), retryMs);
      timer.unref();
      this.retries.set(key, timer);
      return false;
    }
    const following = this.client.following(group);
    if (retry && following) onEvent({ type: "restored", group });
    return following;
  }

  private async retried(group: string, later: boolean): Promise<void> {
    const key = groupNameKey(group);
    if (!this.retries.has(key)) return;
    if (this.client.following(group)) {
      this.retries.delete(key); // followed meanwhile (the shell joined it again)
      return;
    }
    await this.start(group, later, true);
  }

  /**
   * The profile was saved: follows groups joined since (a new join time: also a group left and
   * joined again), and ends those left, telling the owner as a LEFT event would.
   */
  private profileChanged(): void {
    const before = this.known;
    if (before === undefined || this.stopped) return;
    const groups = this.client.groups();
    const now = new Map(groups.map((g) => [groupNameKey(g.name), g.joined]));
    this.known = now;
    for (const g of groups) {
      const key = groupNameKey(g.name);
      if (before.get(key) === g.joined) continue;
      void this.start(g.name, true, false).then((started) => {
        if (started) this.options.onJoined?.(g.name);
      });
    }
    for (const key of before.keys()) {
      if (now.has(key)) continue;
      const group = this.wanted.get(key);
      if (group === undefined) continue;
      const retry = this.retries.get(key);
      clearTimeout(retry);
      this.retries.delete(key);
      const reason = new GmError(
        ErrorCode.NotMember,
        `you are not a member of "${group}" any more: you left it from another gm process`,
      );
      if (!this.client.end(group, reason)) {
        this.wanted.delete(key);
        if (retry !== undefined) this.options.onEvent({ type: "ended", group, reason });
      }
    }
  }
}
