import assert from "node:assert/strict";
import { describe, type TestContext, test } from "node:test";
import * as zmq from "zeromq";
import { EventPublisher } from "../../src/net/publisher.js";
import { EventStream, type EventStreamHandlers } from "../../src/net/subscriber.js";
import { decodeEvent, encodeEvent } from "../../src/protocol/codec.js";
import { rawSubscriber as rawSubscriberOn } from "../helpers/raw-subscriber.js";

const LOOPBACK = "tcp://127.0.0.1:*";

/** Group topics in these tests: any topic of M and at least one more byte (a server gives fixed ones). */
const anyGroupTopic = (topic: string) => topic.length > 1 && topic.startsWith("M");

async function publisher(
  t: TestContext,
  endpoint = LOOPBACK,
  accepts: (topic: string) => boolean = anyGroupTopic,
): Promise<EventPublisher> {
  const p = new EventPublisher({ accepts });
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

  test("topics re-checked together share one HELLO; a new topic gets one of its own", async (t) => {
    // A bare XPUB that answers every hello topic and records it: it counts what the stream asks.
    const xpub = new zmq.XPublisher({ linger: 0 });
    await xpub.bind(LOOPBACK);
    t.after(() => xpub.close());
    const hellos: string[] = [];
    const answering = (async () => {
      for await (const [frame] of xpub) {
        const topic = (frame as Buffer).subarray(1).toString();
        if ((frame as Buffer)[0] !== 1 || !topic.startsWith("H") || topic.endsWith("/0/")) continue;
        hellos.push(topic);
        await xpub.send(encodeEvent(topic, "HELLO", {}));
      }
    })().catch(() => {});
    t.after(() => answering);
    const { s } = stream(t, xpub.lastEndpoint as string);
    assert.equal(await s.add("Ma", "a", 5000), true);
    assert.equal(await s.add("Mb", "b", 5000), true);
    assert.equal(hellos.length, 2);
    assert.deepEqual(await Promise.all([s.add("Ma", "a", 5000), s.add("Mb", "b", 5000), s.add("Ma", "a", 5000)]), [
      true,
      true,
      true,
    ]);
    assert.equal(hellos.length, 3, "one HELLO for the three checks");
    // A topic subscribed after a HELLO was asked for is not proved by it.
    assert.deepEqual(await Promise.all([s.add("Ma", "a", 5000), s.add("Mc", "c", 5000)]), [true, true]);
    assert.equal(hellos.length, 5);
  });

  test("a publisher restarted on the same endpoint: onReconnect fires and events flow again", async (t) => {
    const first = new EventPublisher({ accepts: anyGroupTopic });
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
    assert.equal(pub.subscribers(group), 2);
    assert.equal(pub.wanted(group), true);
    assert.equal(pub.wanted(other), false);
    await a.s.close();
    // libzmq passes up a disconnected peer's subscriptions as unsubscriptions, also while b
    // still subscribes to the same topic: the count goes down by one, not to zero.
    await waitFor(() => pub.subscribers(group) === 1);
    assert.equal(pub.wanted(group), true);
    // An explicit unsubscription is counted once: not again when b disconnects later.
    b.s.remove(group);
    await waitFor(() => !pub.wanted(group));
    await b.s.close();

    // A subscription to everything (or any prefix) is refused: it makes nothing wanted, and the
    // unsubscriptions passed up when that peer disconnects leave the counts at zero.
    const all = new zmq.Subscriber({ linger: 0 });
    t.after(() => all.close());
    all.connect(pub.endpoint);
    all.subscribe();
    all.subscribe("M");
    all.subscribe("Hall/");
    assert.equal(decodeEvent(await all.receive()).type, "event"); // the HELLO: both were handled
    assert.equal(pub.wanted(other), false);
    assert.equal(pub.wanted(group), false);
    assert.equal(pub.refused, 2);
  });
});

/** A raw SUB socket that records every event it receives, in order. */
function rawSubscriber(t: TestContext, endpoint: string) {
  const raw = rawSubscriberOn(endpoint);
  t.after(() => raw.socket.close());
  return raw;
}

async function waitFor(done: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("EventPublisher: only subscriptions to accepted topics are applied", () => {
  test('a peer subscribed to "", "M", an unknown topic and a hello topic gets its HELLOs and no event', async (t) => {
    const group = `M${"a".repeat(36)}`;
    const topics = new Set([group]);
    const pub = await publisher(t, LOOPBACK, (topic) => topics.has(topic));
    const member = stream(t, pub.endpoint);
    assert.equal(await member.s.add(group, "g", 5000), true);

    const attacker = rawSubscriber(t, pub.endpoint);
    attacker.socket.subscribe("");
    attacker.socket.subscribe("M");
    attacker.socket.subscribe(`M${"a".repeat(35)}`); // a prefix of the group's topic
    attacker.socket.subscribe(`M${"b".repeat(36)}`); // unknown
    attacker.socket.subscribe("Hattacker/");
    await waitFor(() => attacker.got.length === 1);
    assert.deepEqual(attacker.got.splice(0), [{ topic: "Hattacker/", kind: "HELLO", body: {} }]);
    assert.equal(pub.refused, 4);

    for (let seq = 1; seq <= 3; seq++) pub.publish(encodeEvent(group, "MESSAGE", { seq }));
    await member.until(() => member.got.length === 3);
    // Those events were copied to every matching connection when they were sent; a HELLO
    // answered after that, on the attacker's connection, would come after any of them.
    assert.deepEqual(await attacker.sync(), [], "nothing before the HELLO");
  });

  test("refusals are summed up in one log line per interval, not one line each", async (t) => {
    const lines: string[] = [];
    const pub = new EventPublisher({ accepts: () => false, log: (l) => lines.push(l), refusalsReportMs: 50 });
    await pub.listen(LOOPBACK);
    t.after(() => pub.close(0));
    const attacker = rawSubscriber(t, pub.endpoint);
    for (let i = 0; i < 100; i++) attacker.socket.subscribe(`M${i}`);
    attacker.socket.subscribe("");
    await attacker.sync();
    assert.equal(pub.refused, 101);
    // Usually one line for all 101; a slow machine may split them across intervals.
    const counted = () =>
      lines.reduce(
        (n, line) => n + Number(/^events: refused (\d+) subscriptions? in the last 0\.05 s /.exec(line)?.[1]),
        0,
      );
    await waitFor(() => counted() >= 101);
    assert.equal(counted(), 101, lines.join("\n"));
    assert.ok(lines.length <= 5, `${lines.length} lines for 101 refusals`);
  });

  test("a retired topic: no new subscription to it is applied", async (t) => {
    const old = `M${"r".repeat(36)}`;
    const topics = new Set([old]);
    const pub = await publisher(t, LOOPBACK, (topic) => topics.has(topic));
    const before = rawSubscriber(t, pub.endpoint);
    before.socket.subscribe(old);
    assert.equal((await before.sync()).length, 0);
    assert.equal(pub.subscribers(old), 1);

    topics.delete(old);
    pub.retire(old);
    assert.equal(pub.wanted(old), false, "a retired topic is wanted by nobody");
    const after = rawSubscriber(t, pub.endpoint);
    after.socket.subscribe(old);
    assert.equal((await after.sync()).length, 0, "subscribed (and refused) before what follows");
    assert.equal(pub.refused, 1);

    // Only to show what the subscription applied before still does: the owner publishes nothing
    // on a retired topic.
    pub.publish(encodeEvent(old, "MESSAGE", { seq: 1 }));
    await waitFor(() => before.got.length === 1);
    assert.deepEqual(await after.sync(), [], "nothing published on the retired topic");
  });
});

describe("EventPublisher: hello topics cost nothing once answered", () => {
  test("a hello topic is answered, then no longer applied: an event sent on it reaches no one", async (t) => {
    const p = await publisher(t);
    const raw = rawSubscriber(t, p.endpoint);
    raw.socket.subscribe("Hkeep/");
    await waitFor(() => raw.got.some((e) => e.topic === "Hkeep/" && e.kind === "HELLO"));
    // Still subscribed on the SUB side; the publisher has dropped it after the HELLO.
    p.publish(encodeEvent("Hkeep/", "MESSAGE", { n: 1 }));
    const seen = await raw.sync();
    assert.deepEqual(
      seen.map((e) => [e.topic, e.kind]),
      [["Hkeep/", "HELLO"]],
      "nothing but the HELLOs: the hello topic was not kept applied",
    );
  });
});
