import * as zmq from "zeromq";
import { EventKind, encodeEvent, type Frame, HEARTBEAT, Limits, Topic } from "../protocol/index.js";
import type { KeyPair } from "../protocol/keys.js";
import { bindSocket } from "./bind.js";
import { Outbox } from "./outbox.js";
import { serverOptions } from "./security.js";

const SUBSCRIBE = 1;
const UNSUBSCRIBE = 0;
const HELLO_FIRST_BYTE = Topic.helloPrefix.charCodeAt(0);
/** A HELLO event is the subscribed hello topic, byte for byte, and then this. */
const HELLO_REST = Buffer.from(encodeEvent("", EventKind.Hello, {})[0] as string);

/**
 * The live side of a server: one XPUB socket. Each event is sent once, starting with its topic,
 * and libzmq copies it to every matching subscriber on its I/O thread, so the cost of a
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
  private readonly socket: zmq.XPublisher;
  private readonly outbox: Outbox;
  /** Topics with at least one subscriber, as libzmq reports them. */
  private readonly exact = new Set<string>();
  /** Subscriptions that are not a whole group topic (e.g. "" for everything): matched by prefix. */
  private readonly partial = new Set<string>();
  private loop: Promise<void> | undefined;
  endpoint = "";

  /** With `keys`, a CURVE server socket (the group server's keypair); without, plain text. */
  constructor(
    private readonly log: (line: string) => void = () => {},
    keys?: KeyPair,
  ) {
    this.socket = new zmq.XPublisher({
      linger: 0,
      // Events waiting for one subscriber; beyond this ZeroMQ drops that subscriber's events (it
      // sees a jump in seq and fills it from history) instead of buffering without bound.
      sendHighWaterMark: 1000,
      // Subscriptions are small: a larger incoming message is a misbehaving peer, and libzmq drops
      // its connection. (A SUB socket replays its subscriptions when it reconnects, so a peer that
      // subscribed to a longer topic is dropped again each time: gm's EventStream refuses to.)
      maxMessageSize: Limits.subscriptionBytes,
      // Every subscription reaches us, also a repeated one (a reconnected subscriber's hello); an
      // unsubscription only when the last subscriber of that topic is gone (or disconnected).
      verbosity: "allSubs",
      ...HEARTBEAT,
      sendTimeout: 0,
      ...serverOptions(keys),
    });
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
   * Publishes an encoded event (its topic first). False when too many events already wait in this
   * process and it was dropped; subscribers then see a gap.
   */
  publish(frames: Frame[]): boolean {
    return !this.socket.closed && this.outbox.pushEvent(frames);
  }

  private async receiveLoop(): Promise<void> {
    try {
      for await (const [frame] of this.socket) {
        if (frame === undefined || frame.length === 0) continue;
        if (frame[1] === HELLO_FIRST_BYTE) {
          const bytes = frame.length - 1;
          if (frame[0] !== SUBSCRIBE || bytes < Topic.helloMinBytes || bytes > Topic.helloMaxBytes) continue;
          // A space or LF would end the topic early in the event's header: not a hello topic.
          if (frame.indexOf(0x20) > 0 || frame.indexOf(0x0a) > 0) continue;
          // Answers go before queued events, so a joiner is not kept waiting behind a burst.
          this.outbox.push([Buffer.concat([frame.subarray(1), HELLO_REST])]);
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
