/**
 * Where and when a group-commit store fdatasyncs its log, and when each committed batch is
 * acknowledged. The measurements behind these rules are in docs/PERFORMANCE.md, "Where the store
 * syncs (the group-commit policy)".
 */

/**
 * Batches are synced on the event loop while the median of the recent syncs is below this (a
 * fast disk); a slower disk gets its syncs on the thread pool, so a flush does not hold up every
 * other request.
 */
export const LOOP_SYNC_MAX_MS = 2;
/**
 * A single write is synced on the event loop only while syncs take less than this (smoothed):
 * an idle fast disk. Under load a trickle of single writes is better served by the pool.
 */
export const LONE_SYNC_MAX_MS = 0.4;
/** How many recent syncs the median is taken over. */
export const RECENT_SYNCS = 15;
/** At most this many syncs at once on libuv's thread pool (its default size is 4). */
export const MAX_SYNCS = 4;

/** The log file's fdatasync, in the two forms the policy chooses between. */
export interface SyncTarget {
  /** Syncs on the calling thread (the event loop); throws if the sync fails. */
  syncNow(): void;
  /** Syncs on the thread pool; `done` is called once it has ended, with its failure if any. */
  syncOnPool(done: (err: Error | null) => void): void;
}

/** A batch that is committed (visible to no reader yet) and waits for a sync to make it durable. */
export interface CommittedBatch {
  /** How many writes it holds: a single write is synced on the loop only while the machine is quiet. */
  readonly writes: number;
  /** A sync that started after this batch's commit has ended well: acknowledge the writes. */
  durable(): void;
  /** A sync failed before this batch was durable: refuse the writes with `err`. */
  refuse(err: Error): void;
}

export interface SyncPolicyOptions {
  readonly target: SyncTarget;
  /** The error every unacknowledged and later write is refused with, once a sync has failed. */
  readonly failure: (cause: unknown) => Error;
  /** Syncs run on the loop while their recent median is below this (default LOOP_SYNC_MAX_MS; 0: never). */
  readonly loopSyncMaxMs?: number;
  /** A monotonic clock in ms (default performance.now). */
  readonly clock?: () => number;
}

/**
 * The group-commit sync policy. A batch of several writes, with no sync running, on a fast disk,
 * is synced right on the event loop: the least CPU per message. A single write is synced there
 * only while the machine is quiet (lone()). Every other batch is synced on the thread pool; a
 * batch committed while a pool sync runs waits for the next one, unless the running sync is
 * slower than usual (stalled()): then it starts its own, up to MAX_SYNCS at once. Any sync covers
 * every commit made before it started, so batches are acknowledged in commit order. A failed sync
 * may have lost pages no later sync can vouch for, so it stops the store for good (fail-stop).
 */
export class SyncPolicy {
  private readonly target: SyncTarget;
  private readonly failure: (cause: unknown) => Error;
  private readonly loopSyncMaxMs: number;
  private readonly clock: () => number;
  /** Committed batches not yet durable, oldest first, each with the number of its commit. */
  private readonly waiting: Array<{ readonly commit: number; readonly batch: CommittedBatch }> = [];
  /** Number of the latest commit (1, 2, …): a sync covers every commit made before it started. */
  private commits = 0;
  private syncsInFlight = 0;
  /** A batch waits for a free sync slot. */
  private syncWanted = false;
  /** Called once nothing is waiting or syncing (see idle()). */
  private onIdle: (() => void) | undefined;
  /** Set once a sync failed: every write is refused from then on. */
  private broken: Error | undefined;
  /** The median duration of the recent syncs (in `recent`, a ring), in ms. */
  private syncCost = 0;
  private readonly recent = new Float64Array(RECENT_SYNCS);
  private syncs = 0;
  /** Writes acknowledged as durable so far (the sum of the durable batches' `writes`). */
  private durableWrites = 0;
  /** When the newest sync on the pool started, and when the last one ended (clock ms). */
  private lastSyncStart = 0;
  private lastSyncEnd = 0;
  /** Smoothed duration of one sync (ms): how busy the machine is now. */
  private syncEma = 0;

  constructor(options: SyncPolicyOptions) {
    this.target = options.target;
    this.failure = options.failure;
    this.loopSyncMaxMs = options.loopSyncMaxMs ?? LOOP_SYNC_MAX_MS;
    this.clock = options.clock ?? (() => performance.now());
  }

  /** The error writes are refused with since a sync failed, if one did. */
  get failed(): Error | undefined {
    return this.broken;
  }

  /**
   * Syncs ended so far (well or not) and the writes they made durable: writes / syncs is how many
   * writes each sync carried on average (docs/PERFORMANCE.md, "messages per fsync").
   */
  get counts(): { syncs: number; writes: number } {
    return { syncs: this.syncs, writes: this.durableWrites };
  }

  /** Whether a batch is waiting or a sync is running (then idle() waits for them). */
  get busy(): boolean {
    return this.syncsInFlight > 0 || this.waiting.length > 0;
  }

  /** Resolves once no batch is waiting and no sync is running; call it only while busy. */
  idle(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.onIdle = resolve;
    });
  }

  /** A batch has just been committed: sync it now, on the pool, or with the next sync. */
  committed(batch: CommittedBatch): void {
    this.commits++;
    this.waiting.push({ commit: this.commits, batch });
    const fast = this.syncCost < this.loopSyncMaxMs;
    if (this.syncsInFlight === 0 && fast && (batch.writes > 1 || this.lone())) this.syncInline();
    else if (this.syncsInFlight === 0 || (this.syncsInFlight < MAX_SYNCS && this.stalled())) this.syncOnPool();
    else this.syncWanted = true;
  }

  /**
   * Whether a single write may be synced on the loop: syncs are quick right now, and the store was
   * idle for at least half a sync before it (a write that comes right after a sync ended was
   * waiting for it, and more are probably coming).
   */
  private lone(): boolean {
    return this.syncEma < LONE_SYNC_MAX_MS && this.clock() - this.lastSyncEnd > this.syncEma / 2;
  }

  /**
   * Whether the newest sync in flight has run longer than syncs usually take: then a batch starts
   * its own instead of waiting behind it. Otherwise it waits and the next sync takes it along,
   * which keeps the number of syncs (each costs CPU) down under a steady stream of writes.
   */
  private stalled(): boolean {
    return this.clock() - this.lastSyncStart > this.syncCost;
  }

  private syncInline(): void {
    const covers = this.commits;
    const start = this.clock();
    let failure: unknown;
    try {
      this.target.syncNow();
    } catch (err) {
      failure = err;
    }
    this.synced(covers, start, failure);
  }

  private syncOnPool(): void {
    const covers = this.commits;
    const start = this.clock();
    this.lastSyncStart = start;
    this.syncsInFlight++;
    this.target.syncOnPool((err) => {
      this.syncsInFlight--;
      this.synced(covers, start, err ?? undefined);
      if (this.syncWanted && this.waiting.length > 0) {
        this.syncWanted = false;
        this.syncOnPool();
      }
      if (this.syncsInFlight === 0 && this.waiting.length === 0) this.onIdle?.();
    });
  }

  /** A sync that started after commit `covers` has ended: every batch up to that commit is durable. */
  private synced(covers: number, start: number, failure: unknown): void {
    this.lastSyncEnd = this.clock();
    this.syncEma = 0.8 * this.syncEma + 0.2 * (this.lastSyncEnd - start);
    this.recent[this.syncs++ % RECENT_SYNCS] = this.lastSyncEnd - start;
    const known = this.recent.slice(0, Math.min(this.syncs, RECENT_SYNCS)).sort();
    this.syncCost = known[known.length >> 1] as number;
    if (failure !== undefined && this.broken === undefined) this.broken = this.failure(failure);
    while (this.waiting.length > 0 && (this.waiting[0] as { commit: number }).commit <= covers) {
      const { batch } = this.waiting.shift() as { batch: CommittedBatch };
      if (this.broken !== undefined) batch.refuse(this.broken);
      else {
        this.durableWrites += batch.writes;
        batch.durable();
      }
    }
  }
}
