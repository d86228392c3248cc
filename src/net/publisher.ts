import * as zmq from "zeromq";
import { EventKind, encodeEvent, Topic } from "../protocol/index.js";
import { bindSocket } from "./bind.js";
import { Outbox } from "./outbox.js";

const SUBSCRIBE = 1;
const UNSUBSCRIBE = 0;
const HELLO_FIRST_BYTE = Topic.helloPrefix.charCodeAt(0);

/**
 * The live side of a server: one XPUB socket. Each event is sent once, with its topic as the first
 * frame, and libzmq copies it to every matching subscriber on its I/O thread, so the cost of a
 * message does not grow with the number of members in JavaScript.
 *
 * Subscribers cannot tell when their subscription has reached the publisher (the "slow joiner"),
 * so a subscription to a hello topic (`H…`) is answered on that topic with a HELLO event: whoever
 * receives it knows that every subscription it made before, on that connection, is active.
 *
 * It also tracks which topics anyone subscribes to, so an event nobody would receive is not even
 * encoded (a group that nobody follows costs nothing to publish to).
 */
export class EventPublisher {
  private readonly socket = new zmq.XPublisher({
    linger: 0,
    // Events waiting for one subscriber; beyond this ZeroMQ drops that subscriber's events (it
    // sees a jump in seq and fills it from history) instead of buffering without bound.
    sendHighWaterMark: 1000,
    // Subscriptions are small: a larger incoming message is a misbehaving peer.
    maxMessageSize: 256,
    // Every subscription reaches us, also a repeated one (a reconnected subscriber's hello); an
    // unsubscription only when the last subscriber of that topic is gone (or disconnected).
    verbosity: "allSubs",
    heartbeatInterval: 1000,
    heartbeatTimeout: 3000,
    sendTimeout: 0,
  });
  private readonly outbox: Outbox;
  /** Topics with at least one subscriber, as libzmq reports them. */
  private readonly exact = new Set<string>();
  /** Subscriptions that are not a whole group topic (e.g. "" for everything): matched by prefix. */
  private readonly partial = new Set<string>();
  private loop: Promise<void> | undefined;
  endpoint = "";

  constructor(private readonly log: (line: string) => void = () => {}) {
    this.outbox = new Outbox(this.socket, (err) => this.log(`publish failed: ${String(err)}`));
  }

  /** Binds; resolves with the bound endpoint (the real port for `:*`). */
  async listen(endpoint: string): Promise<string> {
    this.endpoint = await bindSocket(this.socket, endpoint);
    this.loop = this.receiveLoop();
    return this.endpoint;
  }

  /** Whether an event on this topic would reach anyone now. */
  wanted(topic: string): boolean {
    if (this.exact.has(topic)) return true;
    for (const prefix of this.partial) if (topic.startsWith(prefix)) return true;
    return false;
  }

  /**
   * Publishes an event frame set (topic first). False when too many events already wait in this
   * process and it was dropped; subscribers then see a gap.
   */
  publish(frames: Buffer[]): boolean {
    return !this.socket.closed && this.outbox.pushEvent(frames);
  }

  private async receiveLoop(): Promise<void> {
    try {
      for await (const [frame] of this.socket) {
        if (frame === undefined || frame.length === 0) continue;
        if (frame[1] === HELLO_FIRST_BYTE) {
          if (frame[0] !== SUBSCRIBE || frame.length > 1 + Topic.helloMaxBytes) continue;
          // Answers go before queued events, so a joiner is not kept waiting behind a burst.
          this.outbox.push(encodeEvent(frame.subarray(1), EventKind.Hello, {}));
          continue;
        }
        const topic = frame.toString("latin1", 1);
        const set = topic.length === Topic.groupLength ? this.exact : this.partial;
        if (frame[0] === SUBSCRIBE) set.add(topic);
        else if (frame[0] === UNSUBSCRIBE) set.delete(topic);
      }
    } catch (err) {
      if (!this.socket.closed) this.log(`events loop stopped: ${String(err)}`);
    }
  }

  /** Lets queued events go out (up to `graceMs`), then closes the socket. */
  async close(graceMs = 500): Promise<void> {
    if (this.socket.closed) return;
    await this.outbox.flushed(graceMs);
    this.socket.linger = 100;
    this.socket.close();
    await this.loop;
  }
}
