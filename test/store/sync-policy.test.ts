/**
 * The group-commit sync policy's decisions, on a fake sync target and a fake clock: which batches
 * are synced on the loop and which on the pool, how a slow disk and a stalled sync change that,
 * the order of acknowledgements, and fail-stop. (test/store/sqlite.test.ts runs it on a real disk.)
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { LONE_SYNC_MAX_MS, MAX_SYNCS, RECENT_SYNCS, SyncPolicy } from "../../src/store/sync-policy.js";

type Where = "inline" | "pool" | "waits";

/** A SyncPolicy on a fake disk: inline syncs take `inlineMs` of the fake clock; pool syncs end when told. */
function harness(options: { loopSyncMaxMs?: number } = {}) {
  const pool: Array<{ done: (err: Error | null) => void; ended: boolean }> = [];
  const log: string[] = [];
  const causes: unknown[] = [];
  const h = {
    now: 1000,
    inlineMs: 0.1,
    inlineFailure: undefined as Error | undefined,
    inlineSyncs: 0,
    pool,
    log,
    causes,
    policy: undefined as unknown as SyncPolicy,
    commits: 0,
    /** Commits a batch of `writes` writes and tells where its sync went. */
    commit(writes: number): Where {
      const n = ++h.commits;
      const [inlineBefore, poolBefore] = [h.inlineSyncs, pool.length];
      h.policy.committed({
        writes,
        durable: () => log.push(`durable ${n}`),
        refuse: (err) => log.push(`refused ${n}: ${err.message}`),
      });
      if (h.inlineSyncs > inlineBefore) return "inline";
      return pool.length > poolBefore ? "pool" : "waits";
    },
    /** Ends pool sync `i` (0 = the first started) `ms` after now, well or with `err`. */
    finish(i: number, ms: number, err: Error | null = null): void {
      const sync = pool[i];
      assert.ok(sync !== undefined && !sync.ended, `pool sync ${i} is running`);
      sync.ended = true;
      h.now += ms;
      sync.done(err);
    },
    running: () => pool.filter((s) => !s.ended).length,
  };
  h.policy = new SyncPolicy({
    target: {
      syncNow() {
        h.inlineSyncs++;
        h.now += h.inlineMs;
        if (h.inlineFailure !== undefined) throw h.inlineFailure;
      },
      syncOnPool(done) {
        pool.push({ done, ended: false });
      },
    },
    failure: (cause) => {
      causes.push(cause);
      return new Error(`stopped (${cause instanceof Error ? cause.message : String(cause)})`);
    },
    clock: () => h.now,
    ...options,
  });
  return h;
}

describe("SyncPolicy: inline or on the pool", () => {
  test("a batch of several writes on a fast disk is synced inline and acknowledged at once", () => {
    const h = harness();
    assert.equal(h.commit(3), "inline");
    assert.deepEqual(h.log, ["durable 1"]);
    assert.equal(h.commit(2), "inline");
    assert.deepEqual(h.log, ["durable 1", "durable 2"]);
    assert.equal(h.policy.busy, false);
  });

  test("a lone write is synced inline only if the store was idle for half a sync before it", () => {
    const h = harness();
    h.inlineMs = 0.2;
    assert.equal(h.commit(1), "inline", "the first write on an idle store");
    // Syncs take 0.2 ms: the smoothed cost is now 0.04 ms, so a write 0.02 ms or less after the
    // last sync ended was waiting for it, and goes to the pool.
    h.now += 0.01;
    assert.equal(h.commit(1), "pool");
    h.finish(0, 0.2); // smoothed: 0.072 ms
    h.now += 0.03;
    assert.equal(h.commit(1), "pool", "0.03 ms is less than half of 0.072");
    h.finish(1, 0.2); // smoothed: 0.0976 ms
    h.now += 0.06;
    assert.equal(h.commit(1), "inline", "0.06 ms is more than half of 0.0976");
    assert.deepEqual(h.log, ["durable 1", "durable 2", "durable 3", "durable 4"]);
  });

  test(`a lone write goes to the pool once syncs take ${LONE_SYNC_MAX_MS} ms or more (smoothed), batches stay inline`, () => {
    const h = harness();
    h.inlineMs = 1.5; // under LOOP_SYNC_MAX_MS (2): batches of several stay on the loop
    let lone: Where = "inline";
    let inlineLone = 0;
    while (lone === "inline") {
      h.now += 100;
      lone = h.commit(1);
      if (lone === "inline") inlineLone++;
      assert.ok(inlineLone < 10, "lone writes leave the loop as the smoothed sync cost grows");
    }
    assert.equal(lone, "pool");
    // 0.2 * 1.5 = 0.3 after one sync, 0.54 after two: the third lone write is the first on the pool.
    assert.equal(inlineLone, 2);
    h.finish(0, 1.5);
    h.now += 100;
    assert.equal(h.commit(2), "inline");
  });

  test(`a slow disk moves syncs to the pool once most of the last ${RECENT_SYNCS} were slow (the median)`, () => {
    const h = harness();
    h.inlineMs = 0.1;
    for (let i = 0; i < 8; i++) assert.equal(h.commit(2), "inline");
    h.inlineMs = 5;
    // 8 fast and up to 7 slow among the recent 15: the median is still fast.
    for (let i = 0; i < 8; i++) assert.equal(h.commit(2), "inline", `slow sync ${i + 1}`);
    // The 8th slow one pushed the oldest fast one out: 8 of 15 slow, the median is 5 ms.
    assert.equal(h.commit(2), "pool");
    h.finish(0, 5);
    assert.equal(h.commit(2), "pool", "and stays there while the disk is slow");
  });

  test("loopSyncMaxMs 0 puts every sync on the pool", () => {
    const h = harness({ loopSyncMaxMs: 0 });
    assert.equal(h.commit(5), "pool");
    h.finish(0, 0.1);
    h.now += 100;
    assert.equal(h.commit(1), "pool");
    assert.equal(h.inlineSyncs, 0);
  });

  test("a batch committed during a pool sync is never synced inline", () => {
    const h = harness();
    h.inlineMs = 0.2;
    h.commit(1);
    assert.equal(h.commit(1), "pool"); // right after a sync: waits for the pool
    h.now += 10;
    assert.notEqual(h.commit(5), "inline", "a sync is running: this batch must not block the loop with another");
  });
});

describe("SyncPolicy: batches that arrive during a pool sync", () => {
  /** A policy on the pool whose syncs take 1 ms at the median (that first sync is pool[0]). */
  function onPool() {
    const h = harness({ loopSyncMaxMs: 0 });
    h.commit(1);
    h.finish(0, 1);
    h.log.length = 0;
    return h;
  }

  test("wait for the next sync while the running one is not slower than usual", () => {
    const h = onPool();
    assert.equal(h.commit(1), "pool");
    h.now += 0.5;
    assert.equal(h.commit(1), "waits");
    h.now += 0.5; // 1 ms: as long as syncs take, not longer
    assert.equal(h.commit(1), "waits");
    assert.equal(h.running(), 1);
    h.finish(1, 0);
    assert.deepEqual(h.log, ["durable 2"]);
    assert.equal(h.running(), 1, "the sync's end starts one sync for the batches that waited");
    h.finish(2, 1);
    assert.deepEqual(h.log, ["durable 2", "durable 3", "durable 4"]);
    assert.equal(h.running(), 0);
    assert.equal(h.pool.length, 3);
  });

  test(`start their own sync once the running one has stalled, up to ${MAX_SYNCS} at once`, () => {
    const h = onPool();
    assert.equal(h.commit(1), "pool");
    for (let i = 1; i < MAX_SYNCS; i++) {
      h.now += 1.1; // each newest sync is now slower than the 1 ms syncs usually take
      assert.equal(h.commit(1), "pool", `stalled: sync ${i + 1} of ${MAX_SYNCS}`);
    }
    assert.equal(h.running(), MAX_SYNCS);
    h.now += 10;
    assert.equal(h.commit(1), "waits", "no more than MAX_SYNCS syncs at once");
    h.finish(1, 0);
    assert.deepEqual(h.log, ["durable 2"]);
    assert.equal(h.running(), MAX_SYNCS, "a slot came free: the waiting batch has its sync");
  });

  test("are acknowledged in commit order, whichever sync ends first", () => {
    const h = onPool();
    h.commit(1); // 2: pool sync 1
    h.now += 2;
    h.commit(1); // 3: stalled, pool sync 2
    h.now += 2;
    h.commit(1); // 4: stalled, pool sync 3
    assert.equal(h.running(), 3);
    h.finish(3, 0); // the newest ends first: it covers every commit made before it started
    assert.deepEqual(h.log, ["durable 2", "durable 3", "durable 4"]);
    h.finish(1, 0);
    h.finish(2, 0);
    assert.deepEqual(h.log, ["durable 2", "durable 3", "durable 4"], "nothing is acknowledged twice");
  });

  test("a sync covers only the commits made before it started", () => {
    const h = onPool();
    h.commit(1); // 2: pool sync 1
    h.now += 2;
    h.commit(1); // 3: pool sync 2
    h.finish(1, 0);
    assert.deepEqual(h.log, ["durable 2"], "batch 3 was committed after sync 1 started");
    h.finish(2, 0);
    assert.deepEqual(h.log, ["durable 2", "durable 3"]);
  });

  test("idle() resolves once the last sync has ended", async () => {
    const h = onPool();
    h.commit(1);
    h.commit(1);
    assert.equal(h.policy.busy, true);
    let idle = false;
    const waiting = h.policy.idle().then(() => {
      idle = true;
    });
    h.finish(1, 0);
    await Promise.resolve();
    assert.equal(idle, false, "one batch still waits for its sync");
    h.finish(2, 0);
    await waiting;
    assert.equal(h.policy.busy, false);
  });
});

describe("SyncPolicy: a failed sync stops the store", () => {
  test("inline: the batch is refused, and so is every later one", () => {
    const h = harness();
    h.commit(2);
    h.inlineFailure = new Error("EIO: i/o error");
    h.commit(2);
    assert.equal(h.policy.failed?.message, "stopped (EIO: i/o error)");
    h.inlineFailure = undefined;
    h.now += 100;
    h.commit(2); // a write queued before the failure was seen: still refused
    assert.deepEqual(h.log, [
      "durable 1",
      "refused 2: stopped (EIO: i/o error)",
      "refused 3: stopped (EIO: i/o error)",
    ]);
  });

  test("on the pool: the batches it covers and those behind it are refused, with one error", () => {
    const h = harness({ loopSyncMaxMs: 0 });
    h.commit(1); // 1: pool sync 1
    h.commit(1); // 2: waits
    h.finish(0, 1, new Error("EIO: i/o error"));
    assert.deepEqual(h.log, ["refused 1: stopped (EIO: i/o error)"]);
    // The batch behind it gets its sync, which proves nothing about batch 1's pages (and fails too).
    h.finish(1, 1, new Error("EBADF: bad file descriptor"));
    assert.deepEqual(h.log, ["refused 1: stopped (EIO: i/o error)", "refused 2: stopped (EIO: i/o error)"]);
    h.commit(1);
    h.finish(2, 1); // one that succeeds proves nothing either
    assert.equal(h.log.at(-1), "refused 3: stopped (EIO: i/o error)");
    assert.equal(h.causes.length, 1, "the failure is made once; every refusal carries it");
    assert.equal(h.policy.failed?.message, "stopped (EIO: i/o error)");
  });
});

describe("SyncPolicy: counts (the bench's messages per fsync)", () => {
  test("counts the syncs that ended and the writes they made durable, not those refused", () => {
    const h = harness({ loopSyncMaxMs: 0 });
    assert.deepEqual(h.policy.counts, { syncs: 0, writes: 0 });
    h.commit(3); // pool sync 1
    h.commit(2); // waits for the next sync
    h.commit(4); // waits too
    assert.deepEqual(h.policy.counts, { syncs: 0, writes: 0 }, "nothing is durable before a sync ends");
    h.finish(0, 1);
    assert.deepEqual(h.policy.counts, { syncs: 1, writes: 3 });
    h.finish(1, 1); // one sync carries both batches that waited
    assert.deepEqual(h.policy.counts, { syncs: 2, writes: 9 });
    h.commit(5);
    h.finish(2, 1, new Error("EIO: i/o error"));
    assert.deepEqual(h.policy.counts, { syncs: 3, writes: 9 }, "a failed sync counts, its refused writes do not");
  });
});
