import * as zmq from "zeromq";
import { EventKind, encodeEvent, type Frame, Limits, Topic } from "../protocol/index.js";
import type { Key, KeyPair } from "../protocol/keys.js";
import { LogLimiter } from "../util/log-limiter.js";
import { bindSocket } from "./bind.js";
import { refusalLog, watchConnections } from "./connections.js";
import { Outbox } from "./outbox.js";
import { serverOptions } from "./security.js";
import { openZapGate, type ZapGate } from "./zap.js";
import { readInSmallBatches, SERVER_KEEPALIVE } from "./zmtp-guard.js";

const SUBSCRIBE = 1;
const UNSUBSCRIBE = 0;
/** libzmq's socket options; on an XPUB in manual mode they act on the pipe of the last message received. */
const ZMQ_SUBSCRIBE = 6;
const ZMQ_UNSUBSCRIBE = 7;
const HELLO_FIRST_BYTE = Topic.helloPrefix.charCodeAt(0);
/** A HELLO event is the subscribed hello topic, byte for byte, and then this. */
const HELLO_REST = Buffer.from(encodeEvent("", EventKind.Hello, {})[0] as string);
/** Refused subscriptions are logged as one summary line per this many ms at most. */
const REFUSALS_REPORT_MS = 60_000;
/**
 * What libzmq keeps per subscription in manual mode, per byte of topic: it records every
 * subscription a peer sends (applied or not) in a trie with a node per byte, to report them when
 * the peer goes. Measured: 200,000 distinct 250-byte topics took 2.3 GB, ~46 bytes a topic byte.
 */
const TRIE_BYTES_PER_TOPIC_BYTE = 48;
/** The budget for those records (estimated), over which the socket is recycled. */
export const SUBSCRIPTION_BUDGET_BYTES = 32 * 1024 * 1024;
/**
 * How far the process's RSS may grow past what it was when the socket opened, once a flood is
 * evident (SUBSCRIPTION_FLOOD_BYTES), before the socket is recycled anyway. The estimate above
 * lags what libzmq has recorded: libzmq records a subscription when it moves it from the peer's
 * pipe into its own queue for us, inside whichever call of ours processes its commands, and while
 * it does the I/O thread refills the pipe, so one call can take in thousands. Measured with 240-byte
 * subscriptions: 2,900 counted while 6,000 to 10,000 were recorded (72 to 112 MB, more on a slower
 * machine). The RSS is the truth; it rarely comes down after a recycle (the allocator keeps the
 * freed records for the next ones), so it only decides once a flood is seen.
 */
export const SUBSCRIPTION_RSS_ALLOWANCE_BYTES = 32 * 1024 * 1024;
/** Estimated records since the last recycle that make a flood evident (a client's hello costs ~1 KB). */
const SUBSCRIPTION_FLOOD_BYTES = 4 * 1024 * 1024;
/** Unapplied subscriptions between two looks at the RSS (a look costs ~10 µs). */
const RSS_CHECK_EVERY = 16;

/**
 * An XPUB socket in manual mode (ZMQ_XPUB_MANUAL): a subscription a peer sends is only passed up
 * to us, and takes effect for that peer only once applied here. zeromq.js has no method for that:
 * ZMQ_SUBSCRIBE set on the socket applies to the pipe the last received message came from, so it
 * must be set synchronously after receiving that subscription, before the next receive.
 */
class ManualPublisher extends zmq.XPublisher {
  apply(topic: Buffer): void {
    this.setStringOption(ZMQ_SUBSCRIBE, topic);
  }

  cancel(topic: Buffer): void {
    this.setStringOption(ZMQ_UNSUBSCRIBE, topic);
  }

  /** See zmtp-guard.ts. */
  guardInput(): boolean {
    return readInSmallBatches((option, value) => this.setInt32Option(option, value));
  }
}

export interface EventPublisherOptions {
  /**
   * Whether a subscription to this topic may be applied now: the owner's current group topics.
   * Anything else (`""`, a prefix, a retired or unknown topic) is never applied, so its
   * subscriber receives nothing but the HELLOs of its own hello topics.
   */
  readonly accepts: (topic: string) => boolean;
  readonly log?: (line: string) => void;
  /** The group server's keypair: a CURVE server socket. Without it, plain text. */
  readonly keys?: KeyPair;
  /** Keys whose CURVE handshake the process's ZAP handler refuses (`--deny-key`). */
  readonly deny?: readonly Key[];
  /** At most one log line summing up refused subscriptions per this many ms (default a minute). */
  readonly refusalsReportMs?: number;
  /** Estimated bytes of subscription records before the socket is recycled (tests lower it). */
  readonly subscriptionBudgetBytes?: number;
  /** RSS growth allowed under a flood before the socket is recycled (SUBSCRIPTION_RSS_ALLOWANCE_BYTES). */
  readonly subscriptionRssAllowanceBytes?: number;
}

/**
 * The live side of a server: one XPUB socket. Each event is sent once, starting with its topic,
 * and libzmq copies it to every matching subscriber on its I/O thread, so the cost of a
 * message does not grow with the number of members in JavaScript.
 *
 * Subscriptions are manual: libzmq applies none by itself. One is applied when it is a topic the
 * owner accepts (`accepts`) or a valid hello topic; a subscription to everything (`""`) or to any
 * other prefix would otherwise let anyone who reaches the port read every group.
 *
 * Subscribers cannot tell when their subscription has reached the publisher (the "slow joiner"),
 * so a subscription to a hello topic (`H…`) is answered on that topic with a HELLO event: whoever
 * receives it knows that every subscription it made before, on that connection, is active.
 *
 * It also counts the applied subscriptions of each topic, so an event nobody would receive is not
 * even encoded (a group that nobody follows costs nothing to publish to).
 */
export class EventPublisher {
  private socket: ManualPublisher;
  private readonly keyed: boolean;
  private readonly deny: readonly Key[];
  private gate: ZapGate | undefined;
  private outbox: Outbox;
  private readonly accepts: (topic: string) => boolean;
  private readonly log: (line: string) => void;
  private readonly reportMs: number;
  /**
   * Applied subscriptions of each accepted topic, not yet cancelled. libzmq 4.3.5 in manual mode
   * passes up an unsubscription for every topic a peer had subscribed to (applied or not) when
   * that peer disconnects, one per topic and peer, even while other peers still subscribe to it
   * (test/net/events.test.ts checks this); an explicit unsubscription is passed up as it comes
   * and is not repeated at the disconnect. So each subscription is matched by exactly one
   * unsubscription, and a count per topic stays exact for any peer that subscribes to a topic
   * once (a SUB socket replays its subscriptions on a new connection, a new pipe to us). A raw
   * peer that subscribes twice makes a count too high (only costs encoding); one that sends
   * unsubscriptions it never subscribed could make it too low, but only for a topic it knows,
   * that is as a member, and the other members then get those messages from history.
   */
  private readonly counts = new Map<string, number>();
  /**
   * Estimated bytes libzmq keeps for subscriptions that are not a current group topic (hello
   * topics and refused ones), counted up at each such subscription and never down: an
   * unsubscription could come from another peer than the one that subscribed (a peer can
   * unsubscribe from a topic it never had), so it proves nothing. Reset when the socket is
   * recycled, which frees every record.
   */
  private recorded = 0;
  private readonly budget: number;
  /** The RSS over which a flood recycles the socket (set when it is bound), and the countdown to the next look. */
  private rssCeiling = Number.POSITIVE_INFINITY;
  private untilRssCheck = RSS_CHECK_EVERY;
  private recycling: Promise<void> | undefined;
  private refusedTotal = 0;
  private refusedSinceReport = 0;
  private reportTimer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  /** Connections counted for the process's cap, and refused ones logged (connections.ts). */
  private unwatch: () => void;
  private readonly connectionLimits: LogLimiter;
  endpoint = "";

  constructor(private readonly options: EventPublisherOptions) {
    this.socket = EventPublisher.makeSocket(options);
    this.keyed = options.keys !== undefined;
    this.deny = options.deny ?? [];
    this.accepts = options.accepts;
    this.log = options.log ?? (() => {});
    this.reportMs = options.refusalsReportMs ?? REFUSALS_REPORT_MS;
    this.budget = options.subscriptionBudgetBytes ?? SUBSCRIPTION_BUDGET_BYTES;
    this.outbox = new Outbox(this.socket, (err) => this.log(`publish failed: ${String(err)}`));
    this.connectionLimits = new LogLimiter(this.log, options.refusalsReportMs);
    this.unwatch = this.watch(this.socket);
  }

  /** Counts the socket's connections against the process's cap (connections.ts). */
  private watch(socket: ManualPublisher): () => void {
    return watchConnections(socket, this.keyed, refusalLog(this.connectionLimits, "events: "));
  }

  private static makeSocket(options: EventPublisherOptions): ManualPublisher {
    const socket = new ManualPublisher({
      linger: 0,
      // Events waiting for one subscriber; beyond this ZeroMQ drops that subscriber's events (it
      // sees a jump in seq and fills it from history) instead of buffering without bound.
      sendHighWaterMark: 1000,
      // Subscriptions waiting in one peer's pipe: a few. libzmq moves every message waiting there
      // into its record and its queue for us each time zeromq.js calls it (each receive), so with
      // a large value a flood is recorded many times faster than this process counts it
      // (`recorded`, SUBSCRIPTION_BUDGET_BYTES): at 1,000, one second of flood took 5,500
      // subscriptions through the receive loop while libzmq grew by ~370 MB; at 4, 200,000 of
      // them peak at ~120 MB. (At 1, followers in test/e2e/live.test.ts stalled for seconds: not
      // understood.) A client sends a handful when it joins.
      receiveHighWaterMark: 4,
      // Subscriptions are small: a larger incoming message is a misbehaving peer, and libzmq drops
      // its connection. (A SUB socket replays its subscriptions when it reconnects, so a peer that
      // subscribed to a longer topic is dropped again each time: gm's EventStream refuses to.)
      // With CURVE the limit applies to the handshake too, and 256 bytes would drop every client.
      maxMessageSize: options.keys === undefined ? Limits.subscriptionBytes : Limits.secureSubscriptionBytes,
      manual: true,
      // Every subscription and unsubscription reaches us (manual mode passes them all up anyway).
      verbosity: "allSubs",
      // No ZMTP heartbeats of our own (zmtp-guard.ts): TCP keepalive finds a subscriber that
      // vanished, and one that does not read only loses events (the send high-water mark).
      ...SERVER_KEEPALIVE,
      sendTimeout: 0,
      ...serverOptions(options.keys),
    });
    socket.guardInput();
    return socket;
  }

  /** Binds; resolves with the bound endpoint (the real port for `:*`). */
  async listen(endpoint: string): Promise<string> {
    // ZAP first: no handshake may reach the socket before the handler is there to decide on it.
    this.gate = await openZapGate(this.deny, (l) => this.log(l));
    try {
      this.endpoint = await bindSocket(this.socket, endpoint);
      this.rssCeiling =
        process.memoryUsage.rss() + (this.options.subscriptionRssAllowanceBytes ?? SUBSCRIPTION_RSS_ALLOWANCE_BYTES);
    } catch (err) {
      this.unwatch();
      await this.gate?.release();
      throw err;
    }
    this.loop = this.receiveLoop();
    return this.endpoint;
  }

  /** Whether an event on this topic would reach anyone now. */
  wanted(topic: string): boolean {
    return (this.counts.get(topic) ?? 0) > 0;
  }

  /** Applied subscriptions of this topic not yet cancelled (see `counts`). */
  subscribers(topic: string): number {
    return this.counts.get(topic) ?? 0;
  }

  /** Subscriptions refused since the start (never applied: nothing is delivered on them). */
  get refused(): number {
    return this.refusedTotal;
  }

  /**
   * Forgets a topic the owner no longer accepts: it is not wanted any more, and the
   * unsubscriptions of its remaining subscribers change nothing.
   */
  retire(topic: string): void {
    this.counts.delete(topic);
  }

  /**
   * Publishes an encoded event (its topic first). False when too many events already wait in this
   * process and it was dropped; subscribers then see a gap.
   */
  publish(frames: Frame[]): boolean {
    return !this.socket.closed && this.outbox.pushEvent(frames);
  }

  private async receiveLoop(): Promise<void> {
    const socket = this.socket;
    try {
      for await (const [frame] of socket) {
        // Nothing may come between receiving a subscription and applying it: see ManualPublisher.
        if (frame === undefined || frame.length === 0) continue;
        const hello = this.onSubscription(frame);
        if (hello !== undefined) {
          // A hello topic is applied only for as long as its HELLO takes to be queued to that
          // subscriber, then cancelled: no message is received meanwhile, so the cancellation
          // applies to the same pipe. A subscriber's hello topics then cost no lasting memory
          // here, however many it sends (a SUB replays the permanent one on reconnection, and is
          // answered again).
          await hello;
          if (socket.closed) break;
          socket.cancel(frame.subarray(1));
        }
        if (this.recycling === undefined && this.overBudget()) {
          this.recycling = this.recycle().finally(() => {
            this.recycling = undefined;
          });
          break;
        }
      }
    } catch (err) {
      if (!socket.closed) this.log(`events loop stopped: ${String(err)}`);
    }
  }

  /** Whether libzmq's subscription records (estimated, or seen in the RSS under a flood) call for a recycle. */
  private overBudget(): boolean {
    if (this.recorded > this.budget) return true;
    if (this.recorded < SUBSCRIPTION_FLOOD_BYTES || --this.untilRssCheck > 0) return false;
    this.untilRssCheck = RSS_CHECK_EVERY;
    return process.memoryUsage.rss() > this.rssCeiling;
  }

  /**
   * Replaces the socket by a new one on the same endpoint, which frees every subscription record
   * libzmq kept. zeromq.js cannot close one peer of a bound socket, nor tell which peer sent a
   * subscription, so a flood of them cannot be cut off at its source: this bounds what it costs
   * instead. Every subscriber reconnects by itself (within ZeroMQ's reconnect interval) and its
   * SUB socket replays its subscriptions; gm's clients get the HELLO of their permanent hello
   * topic again and fill what they missed from history. Events published meanwhile are dropped.
   */
  private async recycle(): Promise<void> {
    const recorded = this.recorded;
    const rss = process.memoryUsage.rss();
    const old = this.socket;
    this.outbox.stop();
    old.close();
    this.unwatch();
    this.counts.clear();
    this.recorded = 0;
    this.socket = EventPublisher.makeSocket(this.options);
    this.unwatch = this.watch(this.socket);
    this.outbox = new Outbox(this.socket, (err) => this.log(`publish failed: ${String(err)}`));
    // The old listener's port is freed by libzmq's I/O thread a moment after close().
    for (let attempt = 0; ; attempt++) {
      try {
        await this.socket.bind(this.endpoint);
        break;
      } catch (err) {
        if ((err as { code?: string }).code !== "EADDRINUSE" || attempt >= 200) {
          this.log(`events: could not bind ${this.endpoint} again after recycling: ${String(err)}`);
          return;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    // A sustained flood reopens the socket about once a second: one line a minute sums it up.
    this.connectionLimits.line(
      "events socket reopened",
      `events: subscriptions kept by ZeroMQ passed their budget (about ${Math.round(recorded / 1048576)} MB ` +
        `counted, process at ${Math.round(rss / 1048576)} MB); reopened the events socket to free them ` +
        "(subscribers reconnect and fill any gap from history)",
      (count) => `events: reopened the events socket ${count} more times in the last minute (a subscription flood)`,
    );
    this.loop = this.receiveLoop();
  }

  /** Applies or refuses one subscription message; for a hello topic, resolves once its HELLO is sent. */
  private onSubscription(frame: Buffer): Promise<void> | undefined {
    const topic = frame.subarray(1);
    if (frame[0] === UNSUBSCRIBE) {
      // Also when it was never applied (then libzmq finds nothing to remove); after a disconnect
      // there is no last pipe and this does nothing.
      this.socket.cancel(topic);
      const name = topic.toString("latin1");
      const count = this.counts.get(name) ?? 0;
      if (count > 0) this.counts.set(name, count - 1);
      return;
    }
    if (frame[0] !== SUBSCRIBE) return;
    if (frame[1] === HELLO_FIRST_BYTE) {
      this.recorded += topic.length * TRIE_BYTES_PER_TOPIC_BYTE;
      if (!isHelloTopic(topic)) {
        this.refuse();
        return;
      }
      this.socket.apply(topic);
      // Answers go before queued events, so a joiner is not kept waiting behind a burst.
      return this.outbox.pushAndWait([Buffer.concat([topic, HELLO_REST])]);
    }
    const name = topic.toString("latin1");
    if (topic.length === 0 || !this.accepts(name)) {
      this.recorded += Math.max(1, topic.length) * TRIE_BYTES_PER_TOPIC_BYTE;
      this.refuse();
      return;
    }
    this.socket.apply(topic);
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  }

  /** Counts a refused subscription; one log line per `reportMs` sums them up. */
  private refuse(): void {
    this.refusedTotal++;
    this.refusedSinceReport++;
    if (this.reportTimer !== undefined) return;
    this.reportTimer = setTimeout(() => {
      this.reportTimer = undefined;
      const n = this.refusedSinceReport;
      this.refusedSinceReport = 0;
      this.log(
        `events: refused ${n} subscription${n === 1 ? "" : "s"} in the last ${this.reportMs / 1000} s ` +
          "(not a current group topic nor a valid hello topic)",
      );
    }, this.reportMs);
    this.reportTimer.unref();
  }

  /** Lets queued events go out (up to `graceMs`), then closes the socket. */
  async close(graceMs = 500): Promise<void> {
    await this.recycling;
    if (this.socket.closed) return;
    clearTimeout(this.reportTimer);
    this.reportTimer = undefined;
    await this.outbox.flushed(graceMs);
    this.socket.linger = 100;
    this.socket.close();
    this.unwatch();
    this.connectionLimits.stop();
    await this.loop;
    await this.gate?.release();
  }
}

/** A hello topic: H and 1 to 63 more bytes, no space or LF (which would end it early in a header). */
function isHelloTopic(topic: Buffer): boolean {
  return (
    topic.length >= Topic.helloMinBytes &&
    topic.length <= Topic.helloMaxBytes &&
    !topic.includes(0x20) &&
    !topic.includes(0x0a)
  );
}
