import { randomBytes } from "node:crypto";
import * as zmq from "zeromq";
import { decodeEvent, ErrorCode, EventKind, GmError, HEARTBEAT, Limits, Topic } from "../protocol/index.js";
import { type ClientSecurity, clientOptions } from "./security.js";

/**
 * Whether a topic is one a group server could publish a group's events on (PROTOCOL.md §2): the
 * group prefix and at most Topic.maxBytes in all, without space or LF. Anything else (a server
 * could send it in a SUBSCRIBE reply) is refused before it reaches the socket: a topic longer than
 * the publisher takes would make it drop the connection, and ZeroMQ would replay the subscription
 * on every reconnection, for ever.
 */
function isGroupTopic(topic: string): boolean {
  const bytes = Buffer.byteLength(topic);
  return topic.startsWith(Topic.groupPrefix) && bytes > 1 && bytes <= Topic.maxBytes && !/[ \n]/.test(topic);
}

export interface EventStreamHandlers {
  /** An event on one of the topics added, with the group name given for that topic. */
  readonly onEvent: (group: string, kind: string, body: unknown) => void;
  /**
   * The connection to the publisher was (re)established and its subscriptions are active again:
   * events published while it was down are lost, so followers should catch up from history.
   */
  readonly onReconnect?: () => void;
}

/**
 * One SUB socket to one server's events endpoint, carrying the topics of any number of groups.
 *
 * `add` resolves only once the publisher has the subscription: after subscribing to a group topic
 * it subscribes to a fresh hello topic and waits for the publisher's HELLO on it (subscriptions on
 * one connection are applied in order). A permanent hello topic (`…/0/`) is answered on every
 * (re)connection, which tells a follower when to catch up.
 */
export class EventStream {
  private readonly socket: zmq.Subscriber;
  private readonly hello = `${Topic.helloPrefix}${randomBytes(8).toString("hex")}/`;
  private readonly groups = new Map<string, string>();
  /** Per topic, the number of the first hello topic subscribed after it: that HELLO proves it. */
  private readonly provenFrom = new Map<string, number>();
  private readonly waiters = new Map<number, (ok: boolean) => void>();
  /** What `add` resolves with, per hello topic still waiting for its HELLO. */
  private readonly pending = new Map<number, Promise<boolean>>();
  private nextSync = 1;
  private readonly loop: Promise<void>;
  /** The server key this stream's CURVE expects (undefined: plain text). */
  readonly serverKey: string | undefined;

  constructor(
    readonly endpoint: string,
    private readonly handlers: EventStreamHandlers,
    /** CURVE towards the group server (its key from the directory); none: plain text. */
    security?: ClientSecurity,
  ) {
    this.serverKey = security?.serverKey;
    this.socket = new zmq.Subscriber({
      linger: 0,
      receiveHighWaterMark: 10_000,
      maxMessageSize: Limits.frameBytes,
      ...HEARTBEAT,
      ...clientOptions(security),
    });
    this.socket.subscribe(`${this.hello}0/`);
    this.socket.connect(endpoint);
    this.loop = this.receiveLoop();
  }

  /** Topics subscribed to. */
  get size(): number {
    return this.groups.size;
  }

  /**
   * Subscribes to a group's topic (again, if already subscribed: that re-checks it is active).
   * Resolves true once the publisher confirmed it, false if it did not within `timeoutMs`. A
   * topic already subscribed shares the HELLO of a check still under way that began after it, so
   * the feeds of one server checking in together cost one HELLO, not one each.
   */
  add(topic: string, group: string, timeoutMs: number): Promise<boolean> {
    if (!isGroupTopic(topic)) {
      return Promise.reject(
        new GmError(
          ErrorCode.BadRequest,
          `not a group topic: ${JSON.stringify(topic.slice(0, 40))}${topic.length > 40 ? "…" : ""} ` +
            `(${Buffer.byteLength(topic)} bytes); a group topic is "${Topic.groupPrefix}" and at most ` +
            `${Topic.maxBytes} bytes in all, without space or line feed`,
        ),
      );
    }
    if (this.socket.closed) return Promise.resolve(false);
    if (!this.groups.has(topic)) {
      this.groups.set(topic, group);
      this.provenFrom.set(topic, this.nextSync);
      this.socket.subscribe(topic);
    } else {
      const from = this.provenFrom.get(topic) ?? Number.POSITIVE_INFINITY;
      for (const [k, confirmed] of this.pending) if (k >= from) return confirmed;
    }
    const n = this.nextSync++;
    const sync = `${this.hello}${n}/`;
    this.socket.subscribe(sync);
    const confirmed = new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(n);
        this.pending.delete(n);
        if (!this.socket.closed) this.socket.unsubscribe(sync);
        resolve(ok);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      this.waiters.set(n, done);
    });
    this.pending.set(n, confirmed);
    return confirmed;
  }

  /** Stops receiving a topic. */
  remove(topic: string): void {
    this.provenFrom.delete(topic);
    if (!this.groups.delete(topic) || this.socket.closed) return;
    this.socket.unsubscribe(topic);
  }

  private async receiveLoop(): Promise<void> {
    try {
      for await (const frames of this.socket) {
        const event = decodeEvent(frames);
        if (event.type !== "event") continue;
        if (event.kind === EventKind.Hello) {
          this.onHello(event.topic);
          continue;
        }
        const group = this.groups.get(event.topic);
        if (group !== undefined) this.handlers.onEvent(group, event.kind, event.body);
      }
    } catch {
      // The socket was closed.
    }
  }

  private onHello(topic: string): void {
    if (!topic.startsWith(this.hello)) return;
    const n = Number.parseInt(topic.slice(this.hello.length), 10);
    if (n === 0) {
      this.handlers.onReconnect?.();
      return;
    }
    // A HELLO proves every subscription made before its own, so earlier waiters are done too.
    for (const [k, done] of this.waiters) if (k <= n) done(true);
  }

  async close(): Promise<void> {
    if (this.socket.closed) return;
    for (const done of this.waiters.values()) done(false);
    this.socket.close();
    await this.loop;
  }
}
