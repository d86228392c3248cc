/**
 * A raw zeromq.js SUB socket on an events endpoint, as an attacker (or a test) would use one: it
 * records every event in order, and `sync()` proves what arrived by ordering instead of by waiting.
 * The caller closes `socket`.
 */
import * as zmq from "zeromq";
import { decodeEvent } from "../../src/protocol/codec.js";

export interface RawEvent {
  readonly topic: string;
  readonly kind: string;
  readonly body: unknown;
}

export function rawSubscriber(endpoint: string, name = "sync", options: zmq.SocketOptions<zmq.Subscriber> = {}) {
  const socket = new zmq.Subscriber({ linger: 0, ...options });
  socket.connect(endpoint);
  const got: RawEvent[] = [];
  void (async () => {
    try {
      for await (const frames of socket) {
        const e = decodeEvent(frames);
        if (e.type === "event") got.push({ topic: e.topic, kind: e.kind, body: e.body });
      }
    } catch {
      // closed
    }
  })();
  let n = 0;
  /**
   * Subscribes to a fresh hello topic and resolves with everything received before its HELLO (and
   * takes it, the HELLO too, out of `got`). Subscriptions on one connection are applied in order,
   * so anything published before the HELLO would have reached the socket before it.
   */
  const sync = async (timeoutMs = 10_000): Promise<RawEvent[]> => {
    const hello = `H${name}/${++n}/`;
    socket.subscribe(hello);
    const deadline = Date.now() + timeoutMs;
    while (!got.some((e) => e.topic === hello)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for the HELLO of ${hello}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    socket.unsubscribe(hello);
    return got.splice(0, got.findIndex((e) => e.topic === hello) + 1).slice(0, -1);
  };
  return { socket, got, sync };
}
