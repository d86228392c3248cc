import assert from "node:assert/strict";
import { describe, type TestContext, test } from "node:test";
import * as zmq from "zeromq";
import { EventPublisher } from "../../src/net/publisher.js";
import { EventStream, type EventStreamHandlers } from "../../src/net/subscriber.js";
import { decodeEvent, encodeEvent } from "../../src/protocol/codec.js";

const LOOPBACK = "tcp://127.0.0.1:*";

async function publisher(t: TestContext, endpoint = LOOPBACK): Promise<EventPublisher> {
  const p = new EventPublisher();
  await p.listen(endpoint);
  t.after(() => p.close(0));
  return p;
}

interface Got {
  group: string;
  kind: string;
  body: unknown;
}

/** A stream that records what it receives and lets a test wait for a condition on it. */
function stream(t: TestContext, endpoint: string, handlers: Partial<EventStreamHandlers> = {}) {
  const got: Got[] = [];
  const waiters: Array<() => void> = [];
  const s = new EventStream(endpoint, {
    onEvent: (group, kind, body) => {
      got.push({ group, kind, body });
      for (const w of waiters.splice(0)) w();
    },
    ...handlers,
  });
  t.after(() => s.close());
  const until = async (done: () => boolean, timeoutMs = 5000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out; received ${JSON.stringify(got)}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 50);
      });
    }
  };
  return { s, got, until };
}

const topic = (name: string) => `M${name}`;

describe("EventPublisher + EventStream", () => {
  test("add resolves once the publisher has the subscription: an event published right after arrives", async (t) => {
    const pub = await publisher(t);
    // Repeated on fresh streams: without the HELLO handshake the first event is often lost.
    for (let i = 0; i < 20; i++) {
      const { s, got, until } = stream(t, pub.endpoint);
      assert.equal(await s.add(`Mg${i}`, `group-${i}`, 5000), true);
      assert.equal(pub.publish(encodeEvent(topic(`g${i}`), "MESSAGE", { seq: 1 })), true);
      await until(() => got.length === 1);
      assert.deepEqual(got, [{ group: `group-${i}`, kind: "MESSAGE", body: { seq: 1 } }]);
      await s.close();
    }
  });

  test("only added topics arrive, each under its group name; remove stops a topic", async (t) => {
    const pub = await publisher(t);
    const { s, got, until } = stream(t, pub.endpoint);
    assert.equal(await s.add("Ma", "alpha", 5000), true);
    pub.publish(encodeEvent(topic("b"), "MESSAGE", { seq: 1 }));
    pub.publish(encodeEvent(topic("a"), "MESSAGE", { seq: 1 }));
    await until(() => got.length === 1);
    assert.deepEqual(got, [{ group: "alpha", kind: "MESSAGE", body: { seq: 1 } }]);

    s.remove("Ma");
    assert.equal(await s.add("Mb", "beta", 5000), true);
    // Events on one connection arrive in order: had "a" still been subscribed, it would come first.
    pub.publish(encodeEvent(topic("a"), "MESSAGE", { seq: 2 }));
    pub.publish(encodeEvent(topic("b"), "MESSAGE", { seq: 2 }));
    await until(() => got.length === 2);
    assert.deepEqual(got[1], { group: "beta", kind: "MESSAGE", body: { seq: 2 } });
    assert.equal(s.size, 1);
  });

  test("add resolves false when nothing answers at the endpoint", async (t) => {
    const dead = new zmq.Router({ linger: 0 });
    await dead.bind(LOOPBACK);
    const endpoint = dead.lastEndpoint as string;
    dead.close();
    const { s } = stream(t, endpoint);
    const started = Date.now();
    assert.equal(await s.add("Mx", "x", 300), false);
    assert.ok(Date.now() - started >= 290);
  });

  test("a publisher restarted on the same endpoint: onReconnect fires and events flow again", async (t) => {
    const first = new EventPublisher();
    const endpoint = await first.listen(LOOPBACK);
    let reconnects = 0;
    const { s, got, until } = stream(t, endpoint, { onReconnect: () => reconnects++ });
    assert.equal(await s.add("Mr", "r", 5000), true);
    await until(() => reconnects === 1); // the first connection counts too
    await first.close(0);

    // libzmq closes the listening socket on its I/O thread after close() returns, so the port can
    // still be taken for a moment: bind again once it is free.
    let second: EventPublisher | undefined;
    for (const deadline = Date.now() + 5000; second === undefined; ) {
      try {
        second = await publisher(t, endpoint);
      } catch (err) {
        if (!/already in use/.test(String(err)) || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    await until(() => reconnects === 2, 10_000);
    // The stream's subscriptions were replayed on the new connection; confirm, then publish.
    assert.equal(await s.add("Mr", "r", 5000), true);
    second.publish(encodeEvent(topic("r"), "MESSAGE", { seq: 9 }));
    await until(() => got.length === 1);
    assert.deepEqual(got, [{ group: "r", kind: "MESSAGE", body: { seq: 9 } }]);
  });

  test("only hello topics of at most 64 bytes, without space or line feed, are answered", async (t) => {
    const pub = await publisher(t);
    const sub = new zmq.Subscriber({ linger: 0, receiveTimeout: 5000 });
    t.after(() => sub.close());
    sub.connect(pub.endpoint);
    const long = `H${"x".repeat(64)}`;
    sub.subscribe(long); // 65 bytes: ignored
    sub.subscribe("Mnot-a-hello"); // not a hello topic: ignored
    sub.subscribe("Hwith space"); // would end the topic early in the event's header: ignored
    sub.subscribe("Hwith\nfeed");
    sub.subscribe(`H${"y".repeat(63)}`); // 64 bytes: answered
    const event = decodeEvent(await sub.receive());
    assert.equal(event.type === "event" && event.topic, `H${"y".repeat(63)}`);
    assert.equal(event.type === "event" && event.kind, "HELLO");
  });

  test("a hello topic of H alone is not answered: a hello topic is H and 1 to 63 more bytes", async (t) => {
    const pub = await publisher(t);
    const sub = new zmq.Subscriber({ linger: 0, receiveTimeout: 5000 });
    t.after(() => sub.close());
    sub.connect(pub.endpoint);
    // "H" is a prefix of every hello topic, so this socket receives every HELLO sent to it: the
    // answer to "Hz" (subscribed after "H" on the same connection) comes after any answer to "H".
    sub.subscribe("H");
    sub.subscribe("Hz");
    const event = decodeEvent(await sub.receive());
    assert.equal(event.type === "event" && event.topic, "Hz");
    assert.equal(event.type === "event" && event.kind, "HELLO");
  });

  test("a topic longer than 64 bytes is refused by the stream, which stays connected", async (t) => {
    const pub = await publisher(t);
    let reconnects = 0;
    const { s, got, until } = stream(t, pub.endpoint, { onReconnect: () => reconnects++ });
    await until(() => reconnects === 1);
    // Longer than a publisher takes: it would drop the connection, and ZeroMQ would replay the
    // subscription on every reconnection, for ever.
    await assert.rejects(s.add(`M${"x".repeat(300)}`, "huge", 2000), /not a group topic: .* \(301 bytes\)/);
    await assert.rejects(s.add(`M${"x".repeat(64)}`, "long", 2000), /not a group topic: .* \(65 bytes\)/);
    await assert.rejects(s.add("Mwith space", "sp", 2000), /not a group topic/);
    await assert.rejects(s.add("Xabc", "x", 2000), /not a group topic/);
    // The longest topic allowed is taken, and the connection was never dropped.
    const longest = `M${"y".repeat(63)}`;
    assert.equal(await s.add(longest, "longest", 5000), true);
    pub.publish(encodeEvent(longest, "MESSAGE", { seq: 1 }));
    await until(() => got.length === 1);
    assert.deepEqual(got, [{ group: "longest", kind: "MESSAGE", body: { seq: 1 } }]);
    assert.equal(reconnects, 1);
    assert.equal(s.size, 1);
  });

  test("the publisher takes a 246-byte subscription and drops the connection of a 247-byte one", async (t) => {
    const pub = await publisher(t);
    const hello = async (topicBytes: number): Promise<boolean> => {
      const sub = new zmq.Subscriber({ linger: 0, receiveTimeout: 1000 });
      try {
        sub.connect(pub.endpoint);
        sub.subscribe(`M${"z".repeat(topicBytes - 1)}`);
        sub.subscribe("Hafter");
        await sub.receive();
        return true;
      } catch {
        return false; // no HELLO within 1 s: the subscription before it cost the connection
      } finally {
        sub.close();
      }
    };
    assert.equal(await hello(246), true);
    assert.equal(await hello(247), false);
  });

  test("wanted: an event is only worth publishing while someone subscribes to its topic", async (t) => {
    const pub = await publisher(t);
    const group = `M${"0".repeat(36)}`;
    const other = `M${"1".repeat(36)}`;
    assert.equal(pub.wanted(group), false, "nobody subscribed yet");
    const a = stream(t, pub.endpoint);
    const b = stream(t, pub.endpoint);
    assert.equal(await a.s.add(group, "g", 5000), true);
    assert.equal(await b.s.add(group, "g", 5000), true);
    assert.equal(pub.wanted(group), true);
    assert.equal(pub.wanted(other), false);
    const until = async (done: () => boolean) => {
      const deadline = Date.now() + 5000;
      while (!done()) {
        assert.ok(Date.now() < deadline, "timed out");
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    await a.s.close();
    // b still subscribes; once b's unsubscription has arrived too, nobody does.
    assert.equal(pub.wanted(group), true);
    b.s.remove(group);
    await until(() => !pub.wanted(group));

    // A subscription to a prefix (here: everything) makes every topic wanted.
    const all = new zmq.Subscriber({ linger: 0 });
    t.after(() => all.close());
    all.connect(pub.endpoint);
    all.subscribe();
    await until(() => pub.wanted(other) && pub.wanted(group));
  });
});
