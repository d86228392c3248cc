/**
 * Feed against a fake source (a group's history in an array): start, gaps, failed repairs, LEFT,
 * reconnects and restarted servers. Tests wait for what the feed reports, never for time to pass;
 * the only timer that runs is the feed's own retry, set to a few ms.
 */
import assert from "node:assert/strict";
import { after, afterEach, describe, test } from "node:test";
import { ErrorCode } from "../../src/protocol/constants.js";
import { GmError, RemoteError, TimeoutError } from "../../src/protocol/errors.js";
import type { HistoryPage, StoredMessage, Subscription } from "../../src/protocol/types.js";
import { Feed, type FeedEvent, type FeedOptions, type FeedSource, type HistoryQuery } from "../../src/user/feed.js";

const message = (seq: number, id = `id-${seq}`): StoredMessage => ({
  seq,
  ts: seq * 10,
  id,
  user: "0193a000-0000-7000-8000-000000000001",
  name: "ada",
  text: `m${seq}`,
});
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** A group server as a feed sees it: SUBSCRIBE answers, live subscriptions, history pages. */
class FakeSource implements FeedSource {
  stored: StoredMessage[] = [];
  events = "tcp://127.0.0.1:7001";
  topic = "M0193a000-0000-7000-8000-0000000000aa";
  /** Whether the publisher confirms a subscription. */
  confirm = true;
  /** Errors the next SUBSCRIBEs and pages throw, one per call. */
  readonly subscribeErrors: Error[] = [];
  readonly pageErrors: Error[] = [];
  /** Every call, in order: "subscribe", "listen <events>", "page <query>". */
  readonly calls: string[] = [];
  /** While set, SUBSCRIBE waits for it. */
  hold: Promise<void> | undefined;
  /** The timer the feed waits on; unset, it keeps its own. */
  after?: (ms: number, run: () => void) => () => void;

  store(...seqs: number[]): void {
    this.stored.push(...seqs.map((s) => message(s)));
  }

  async subscribe(): Promise<Subscription> {
    this.calls.push("subscribe");
    await this.hold;
    const err = this.subscribeErrors.shift();
    if (err !== undefined) throw err;
    return { events: this.events, topic: this.topic, last: this.stored.at(-1)?.seq ?? 0, refresh: 60_000 };
  }

  async listen(sub: Pick<Subscription, "events" | "topic">): Promise<boolean> {
    this.calls.push(`listen ${sub.events}`);
    return this.confirm;
  }

  async page(query: HistoryQuery): Promise<HistoryPage> {
    this.calls.push(`page ${JSON.stringify(query)}`);
    const err = this.pageErrors.shift();
    if (err !== undefined) throw err;
    const { since, after = 0, before, limit } = query;
    const matching = this.stored.filter(
      (m) => m.seq > after && (before === undefined || m.seq < before) && (since === undefined || m.ts >= since),
    );
    if (before !== undefined) return { messages: matching.slice(-limit), more: matching.length > limit };
    return { messages: matching.slice(0, limit), more: matching.length > limit };
  }
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
process.on("unhandledRejection", onUnhandled);
after(() => {
  process.off("unhandledRejection", onUnhandled);
  assert.deepEqual(unhandled, [], "no feed left a rejection unhandled");
});

/**
 * Lets the feed's pending continuations run: the fake source answers at once, so whatever the
 * feed does after its last callback has happened once the microtask queue is empty.
 */
const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const feeds: Feed[] = [];
afterEach(() => {
  for (const f of feeds.splice(0)) f.stop();
});

/** A feed on `source` that records what it delivers and reports, and can be waited on. */
function follower(source: FakeSource, options: Partial<FeedOptions> = {}) {
  const seqs: number[] = [];
  const events: FeedEvent[] = [];
  const waiters = new Set<() => void>();
  const changed = () => {
    for (const w of [...waiters]) w();
  };
  const feed = new Feed(source, "general", {
    retryMs: 5,
    ...options,
    onMessage: (m) => {
      seqs.push(m.seq);
      changed();
    },
    onEvent: (e) => {
      events.push(e);
      changed();
    },
  });
  feeds.push(feed);
  /** Resolves once `condition` holds after something was delivered or reported (5 s at most). */
  const until = (what: string, condition: () => boolean): Promise<void> =>
    new Promise((resolve, reject) => {
      if (condition()) return resolve();
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        const got = { delivered: seqs.length, last: seqs.at(-1), events: kinds(), status: feed.status };
        reject(new Error(`timed out waiting for ${what}: ${JSON.stringify(got)}`));
      }, 5000);
      waiters.add(check);
    });
  const kinds = () => events.map((e) => e.type);
  return { feed, seqs, events, kinds, until };
}

describe("Feed", () => {
  test("subscribes first, delivers all history, then live events in order, each seq once", async () => {
    const source = new FakeSource();
    source.store(1, 2, 3);
    const f = follower(source);
    await f.feed.start();
    assert.deepEqual(f.seqs, [1, 2, 3]);
    assert.equal(f.feed.status, "live");
    assert.deepEqual(source.calls.slice(0, 2), ["subscribe", `listen ${source.events}`], "live first, history second");
    source.store(4);
    f.feed.receive(message(3));
    f.feed.receive(message(4));
    f.feed.receive(message(4));
    assert.deepEqual(f.seqs, [1, 2, 3, 4]);
    assert.deepEqual(f.events, [], "nothing to report");
  });

  test("starts from the newest `limit` (since a time), or from `since`, then goes live from what was durable", async () => {
    const source = new FakeSource();
    source.store(...range(1, 5));
    const newest = follower(source, { limit: 2 });
    await newest.feed.start();
    assert.deepEqual(newest.seqs, [4, 5]);

    const since = follower(source, { since: 30 });
    await since.feed.start();
    assert.deepEqual(since.seqs, [3, 4, 5]);

    // The newest `limit` from `since`, as `gm user messages --since --limit` prints them.
    const window = follower(source, { since: 20, limit: 2 });
    await window.feed.start();
    assert.deepEqual(window.seqs, [4, 5]);
    source.store(6);
    window.feed.receive(message(6));
    assert.deepEqual(window.seqs, [4, 5, 6]);
    // Fewer since then than `limit`: those there are; and over several pages.
    const few = follower(source, { since: 50, limit: 3 });
    await few.feed.start();
    assert.deepEqual(few.seqs, [5, 6]);
    source.store(...range(7, 2600));
    const many = follower(source, { since: 20, limit: 2500 });
    await many.feed.start();
    assert.deepEqual(many.seqs, range(101, 2600));
  });

  test("a jump in seq is repaired from history, across several pages", async () => {
    const source = new FakeSource();
    source.store(1, 2);
    const f = follower(source);
    await f.feed.start();
    source.store(...range(3, 2500));
    f.feed.receive(message(2500));
    assert.equal(f.feed.status, "catching-up");
    f.feed.receive(message(1200)); // arrives while catching up: buffered, then dropped as delivered
    await f.until("the gap to be filled", () => f.seqs.length === 2500);
    assert.deepEqual(f.seqs, range(1, 2500));
    assert.ok(source.calls.includes(`page ${JSON.stringify({ after: 2, limit: 1000 })}`), "paged after the last seq");
    assert.ok(!source.calls.slice(2).includes("subscribe"), "a gap alone needs no check-in");
    await settled();
    assert.equal(f.feed.status, "live");
    assert.deepEqual(f.events, [], "a repaired gap is not news");
  });

  test("an event history cannot reach is kept for the next check, not asked for again and again", async () => {
    const source = new FakeSource();
    source.store(1, 2);
    const f = follower(source);
    await f.feed.start();
    const before = source.calls.length;
    // Published live but not (yet) served by HISTORY: a page after 2 comes back empty.
    f.feed.receive(message(10));
    await settled();
    assert.deepEqual(source.calls.slice(before), [`page ${JSON.stringify({ after: 2, limit: 1000 })}`]);
    assert.equal(f.feed.status, "live");
    // Once history has it, the next gap fills everything in order.
    source.store(...range(3, 11));
    f.feed.receive(message(11));
    await f.until("the gap to be filled", () => f.seqs.length === 11);
    assert.deepEqual(f.seqs, range(1, 11));
  });

  test("a failed repair is reported, retried, and does not crash the follower", async () => {
    const source = new FakeSource();
    source.store(1);
    const f = follower(source);
    await f.feed.start();
    source.store(2, 3);
    const timeout = new TimeoutError("tcp://127.0.0.1:7000", 3, 7500);
    source.pageErrors.push(timeout);
    f.feed.receive(message(3));
    await f.until("the failure to be reported", () => f.kinds().includes("lost"));
    const failedAt = source.calls.length;
    assert.equal(f.feed.status, "reconnecting");
    assert.deepEqual(f.events[0], { type: "lost", group: "general", error: timeout, retryMs: 5 });
    assert.deepEqual(f.seqs, [1], "nothing delivered across the gap");
    await f.until("the retry to fill the gap", () => f.seqs.length === 3);
    assert.deepEqual(f.seqs, [1, 2, 3]);
    await settled();
    assert.equal(f.feed.status, "live");
    assert.deepEqual(f.kinds(), ["lost", "restored"]);
    assert.equal(source.calls[failedAt], "subscribe", "the retry checks in with the server first");
    assert.deepEqual(unhandled, []);
  });

  test("a retry that fails again keeps retrying without telling the owner twice", async () => {
    const source = new FakeSource();
    const f = follower(source);
    await f.feed.start();
    source.store(1, 2);
    const refused = new RemoteError(ErrorCode.Internal, "disk trouble", "500", "tcp://127.0.0.1:7000");
    source.pageErrors.push(refused);
    source.subscribeErrors.push(new TimeoutError("tcp://127.0.0.1:7000", 3, 7500), refused);
    f.feed.receive(message(2));
    await f.until("the gap to be filled", () => f.seqs.length === 2);
    await settled();
    assert.deepEqual(f.kinds(), ["lost", "restored"]);
    assert.equal(source.calls.filter((c) => c === "subscribe").length, 4, "the first, two failed retries, one more");
  });

  test("a repair answered NOT_MEMBER ends the feed", async () => {
    const source = new FakeSource();
    const f = follower(source);
    await f.feed.start();
    const notMember = new RemoteError(ErrorCode.NotMember, "not a member", "400", "tcp://127.0.0.1:7000");
    source.pageErrors.push(notMember);
    f.feed.receive(message(2));
    await f.until("the end", () => f.feed.status === "ended");
    assert.deepEqual(f.events, [{ type: "ended", group: "general", reason: notMember }]);
    assert.deepEqual(f.seqs, []);
  });

  test("a LEFT event ends the feed once: nothing is delivered after it", async () => {
    const source = new FakeSource();
    source.store(1);
    const f = follower(source);
    await f.feed.start();
    const requests = source.calls.length;
    const left = new GmError(ErrorCode.NotMember, "you left it from another gm process");
    f.feed.end(left);
    f.feed.end(left);
    assert.deepEqual(f.events, [{ type: "ended", group: "general", reason: left }]);
    assert.equal(f.feed.status, "ended");
    source.store(2);
    f.feed.receive(message(2));
    f.feed.resume();
    assert.deepEqual(f.seqs, [1]);
    await settled();
    assert.equal(source.calls.length, requests, "no request after the end");
  });

  test("a reconnect checks in again and fills what was missed", async () => {
    const source = new FakeSource();
    source.store(1, 2);
    const f = follower(source);
    await f.feed.start();
    source.store(3, 4); // published while the connection was down: no events for them
    const requests = source.calls.length;
    f.feed.resume();
    await f.until("the missed messages", () => f.seqs.length === 4);
    assert.deepEqual(f.seqs, [1, 2, 3, 4]);
    assert.deepEqual(source.calls.slice(requests, requests + 2), ["subscribe", `listen ${source.events}`]);
  });

  test("a check-in that finds nothing new asks for no history; one that finds more pages it", async () => {
    const source = new FakeSource();
    source.store(1, 2);
    const f = follower(source);
    await f.feed.start();
    let requests = source.calls.length;
    f.feed.resume(); // what the periodic check does
    await settled();
    assert.equal(f.feed.status, "live");
    assert.deepEqual(source.calls.slice(requests), ["subscribe", `listen ${source.events}`], "SUBSCRIBE alone");
    // Published at the end of a burst and dropped: only SUBSCRIBE's `last` shows it.
    source.store(3);
    requests = source.calls.length;
    f.feed.resume();
    await f.until("the dropped message", () => f.seqs.length === 3);
    assert.deepEqual(source.calls.slice(requests), [
      "subscribe",
      `listen ${source.events}`,
      `page ${JSON.stringify({ after: 2, limit: 1000 })}`,
    ]);
    // A new topic (another member left): what was published meanwhile went to the old one.
    source.topic = "M0193a000-0000-7000-8000-0000000000bb";
    requests = source.calls.length;
    f.feed.resume();
    await settled();
    assert.ok(
      source.calls.slice(requests).some((c) => c.startsWith("page")),
      "a moved subscription pages history",
    );
  });

  test("waits for its next check-in and its retries on the source's timer, and cancels it when stopped", async () => {
    const source = new FakeSource();
    const waits: number[] = [];
    let pending = 0;
    source.after = (ms, run) => {
      waits.push(ms);
      pending++;
      const timer = setTimeout(run, ms);
      return () => {
        pending--;
        clearTimeout(timer);
      };
    };
    const f = follower(source);
    await f.feed.start();
    assert.deepEqual(waits, [60_000], "the refresh SUBSCRIBE asked for");
    source.pageErrors.push(new TimeoutError("tcp://127.0.0.1:7000", 3, 7500));
    f.feed.receive(message(2));
    await f.until("the failure", () => f.kinds().includes("lost"));
    assert.deepEqual(waits, [60_000, 5], "then the retry");
    assert.equal(pending, 1, "the check-in was cancelled when the repair began");
    f.feed.stop();
    assert.equal(pending, 0);
  });

  test("a resume while starting (a topic retired meanwhile) makes the start check in again", async () => {
    const source = new FakeSource();
    source.store(1);
    let release = () => {};
    source.hold = new Promise<void>((r) => {
      release = r;
    });
    const f = follower(source);
    const started = f.feed.start();
    assert.equal(f.feed.status, "starting");
    f.feed.resume();
    source.hold = undefined;
    release();
    source.store(2); // stored after the first SUBSCRIBE's topic was retired
    await started;
    assert.equal(source.calls.filter((c) => c === "subscribe").length, 2, "checked in again before going live");
    assert.deepEqual(f.seqs, [1, 2]);
    assert.equal(f.feed.status, "live");
  });

  test("an unconfirmed live subscription is reported, and so is its return", async () => {
    const source = new FakeSource();
    source.confirm = false;
    const f = follower(source);
    await f.feed.start();
    assert.equal(f.feed.status, "polling");
    assert.deepEqual(f.events, [{ type: "unconfirmed", group: "general", events: source.events }]);
    source.store(1);
    f.feed.receive(message(1)); // live events that do arrive are delivered all the same
    assert.deepEqual(f.seqs, [1]);
    source.confirm = true;
    f.feed.resume();
    await f.until("back in touch", () => f.kinds().includes("restored"));
    await settled();
    assert.equal(f.feed.status, "live");
  });

  test("a restarted group server: the feed moves to its new events endpoint and catches up", async () => {
    const source = new FakeSource();
    source.store(1, 2);
    const f = follower(source);
    await f.feed.start();
    // Restarted without --events-address: same store, new events port; 3 and 4 came meanwhile.
    source.events = "tcp://127.0.0.1:7002";
    source.store(3, 4);
    f.feed.resume();
    await f.until("the missed messages", () => f.seqs.length === 4);
    assert.ok(source.calls.includes("listen tcp://127.0.0.1:7002"));
    source.store(5);
    f.feed.receive(message(5));
    await f.until("the next live message", () => f.seqs.length === 5);
    assert.deepEqual(f.seqs, [1, 2, 3, 4, 5]);
  });

  test("a group whose history restarted: no seq is delivered twice, and a new store without the user ends it", async () => {
    const source = new FakeSource();
    source.store(1, 2, 3);
    const f = follower(source);
    await f.feed.start();
    // The store was replaced by one that starts again at 1 (SUBSCRIBE's `last` went backwards).
    source.stored = [message(1, "other-1"), message(2, "other-2")];
    f.feed.resume();
    await f.until("the check-in", () => source.calls.filter((c) => c === "subscribe").length === 2);
    f.feed.receive(message(1, "other-1"));
    f.feed.receive(message(2, "other-2"));
    assert.deepEqual(f.seqs, [1, 2, 3], "seqs at or below the last one delivered are never delivered again");
    source.store(3, 4);
    f.feed.receive(message(4));
    await f.until("history to pass the old last seq", () => f.seqs.length === 4);
    assert.deepEqual(f.seqs, [1, 2, 3, 4]);

    // A store made anew knows no members: the next check-in is refused, and that is final.
    const notMember = new RemoteError(ErrorCode.NotMember, "not a member", "400", "tcp://127.0.0.1:7000");
    source.subscribeErrors.push(notMember);
    f.feed.resume();
    await f.until("the end", () => f.feed.status === "ended");
    assert.deepEqual(f.events.at(-1), { type: "ended", group: "general", reason: notMember });
  });

  test("start rejects if the first SUBSCRIBE fails, and resolves quietly if stopped meanwhile", async () => {
    const source = new FakeSource();
    const notMember = new GmError(ErrorCode.NotMember, 'you have not joined "general"');
    source.subscribeErrors.push(notMember);
    const refused = follower(source);
    await assert.rejects(refused.feed.start(), notMember);
    assert.equal(refused.feed.status, "ended");
    assert.deepEqual(refused.events, [], "the rejection is the report");

    let release: () => void = () => {};
    source.hold = new Promise<void>((r) => {
      release = r;
    });
    const stopped = follower(source);
    const starting = stopped.feed.start();
    assert.equal(stopped.feed.status, "starting");
    stopped.feed.stop();
    release();
    await starting;
    assert.ok(!source.calls.slice(1).some((c) => c.startsWith("listen")), "a stopped feed does not listen");
  });
});
