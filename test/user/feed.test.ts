/** Feed against a fake source: gaps, failed repairs. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { TimeoutError } from "../../src/protocol/errors.js";
import type { HistoryPage, StoredMessage, Subscription } from "../../src/protocol/types.js";
import { Feed, type FeedSource } from "../../src/user/feed.js";

const message = (seq: number): StoredMessage => ({
  seq,
  ts: seq,
  id: `id-${seq}`,
  user: "u",
  name: "n",
  text: `m${seq}`,
});

class FakeSource implements FeedSource {
  stored: StoredMessage[] = [];
  failPages = 0;
  async subscribe(): Promise<Subscription> {
    return { events: "tcp://fake:1", topic: "Mx", last: this.stored.length, refresh: 60_000 };
  }
  async listen(): Promise<boolean> {
    return true;
  }
  async messages(): Promise<StoredMessage[]> {
    return [...this.stored];
  }
  async page(_group: string, query: { after: number; limit: number }): Promise<HistoryPage> {
    if (this.failPages > 0) {
      this.failPages--;
      throw new TimeoutError("tcp://fake:2", 3, 7500);
    }
    return { messages: this.stored.filter((m) => m.seq > query.after).slice(0, query.limit), more: false };
  }
  forget(): void {}
}

test("a failed gap repair is retried and does not crash the follower", async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on("unhandledRejection", onUnhandled);
  const source = new FakeSource();
  const seen: number[] = [];
  let caughtUp: () => void = () => {};
  const done = new Promise<void>((r) => {
    caughtUp = r;
  });
  const feed = new Feed(source, "general", {
    onMessage: (m) => {
      seen.push(m.seq);
      if (m.seq === 3) caughtUp();
    },
    retryMs: 10,
  });
  try {
    await feed.start();
    source.stored.push(message(1), message(2), message(3));
    source.failPages = 1;
    feed.onEvent(message(3));
    await done;
    assert.deepEqual(seen, [1, 2, 3]);
    assert.deepEqual(unhandled, []);
  } finally {
    feed.stop();
    process.off("unhandledRejection", onUnhandled);
  }
});
