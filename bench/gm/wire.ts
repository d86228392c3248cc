/**
 * The gm protocol as the benchmark clients speak it: DEALER sockets and the frame codec of
 * src/protocol (pure: no gm client library in the way), so what is measured is the group server,
 * the network and the protocol, with clients as lean as the baseline echo clients.
 *
 * Against a secure server (its public key given), each member is a keypair of its own: its user id
 * is the key's (src/protocol/keys.ts userIdOf), its sockets talk CURVE (src/net/security.ts
 * clientOptions) and every request body carries "key" and "proof", as src/net/rpc-client.ts sends
 * them. Against an insecure one (`--insecure`), plain text and a random user id.
 *
 *   request  "GM/2 <command> <request-id>\n<body-json>"    (DEALER -> group server ROUTER)
 *   reply    "GM/2 <200|300|400|500> <request-id>\n<body-json>"
 *   event    "<topic> <MESSAGE|LEFT|HELLO>\n<body-json>"  (on the events socket, to SUB sockets)
 */
import { randomBytes } from "node:crypto";
import { v4 as uuidv4 } from "uuid";
import * as zmq from "zeromq";
import { type ClientSecurity, clientOptions } from "../../src/net/security.js";
import { decodeEvent, decodeReply, encodeRequest, encodeRequestJson } from "../../src/protocol/codec.js";
import { clientProof, newKeyPair, userIdOf } from "../../src/protocol/keys.js";

export { decodeEvent, decodeReply, encodeRequest, encodeRequestJson };

/** Message texts are exactly this many bytes (ASCII). */
export const TEXT_BYTES = 100;

/** `prefix` padded (or cut) to TEXT_BYTES ASCII characters. */
export function padText(prefix: string): string {
  return prefix.length >= TEXT_BYTES ? prefix.slice(0, TEXT_BYTES) : prefix + ".".repeat(TEXT_BYTES - prefix.length);
}

const node = randomBytes(8).toString("hex");
let counter = 0;

/**
 * A message id in UUID v7 layout (48-bit ms time, version 7, variant 10), unique per process by
 * a random tail and a counter: what a client needs for SEND, at a fraction of the `uuid`
 * package's cost (which draws fresh random bytes for every id). Ids sort by time per process.
 */
export function messageId(): string {
  const ms = Date.now().toString(16).padStart(12, "0");
  counter = (counter + 1) >>> 0;
  const c = counter.toString(16).padStart(8, "0");
  return `${ms.slice(0, 8)}-${ms.slice(8)}-7${node.slice(0, 3)}-${(8 | (counter >>> 30)).toString(16)}${node.slice(3, 6)}-${node.slice(6, 10)}${c}`;
}

/** A member as the bench clients play it. */
export interface Identity {
  readonly user: string;
  readonly name: string;
  /** CURVE towards the server (undefined: insecure). */
  readonly security: ClientSecurity | undefined;
  /** What every request body carries besides its own fields: {key, proof}, or nothing (insecure). */
  readonly signature: { readonly key: string; readonly proof: string } | Record<string, never>;
}

/**
 * A new member: with `serverKey` (the group server's public key), a fresh keypair and the user id
 * it stands for; without, a random user id for an insecure server.
 */
export function newUser(label: string, serverKey: string | undefined): Identity {
  const name = `${label}-${process.pid}`;
  if (serverKey === undefined) return { user: uuidv4(), name, security: undefined, signature: {} };
  const keys = newKeyPair();
  return {
    user: userIdOf(keys.publicKey),
    name,
    security: { keys, serverKey },
    signature: { key: keys.publicKey, proof: clientProof(keys, serverKey) },
  };
}

/** `body` with the identity's key and proof added (unchanged when insecure). */
export function signed(id: Identity, body: object): object {
  return { ...body, ...id.signature };
}

/** A DEALER socket with the options the gm client uses (src/net/rpc-client.ts), CURVE if `security`. */
export function dealer(endpoint: string, security: ClientSecurity | undefined, receiveTimeoutMs = -1): zmq.Dealer {
  const sock = new zmq.Dealer({
    linger: 0,
    sendHighWaterMark: 10_000,
    receiveHighWaterMark: 10_000,
    receiveTimeout: receiveTimeoutMs,
    ...clientOptions(security),
  });
  sock.connect(endpoint);
  return sock;
}

/**
 * A SUB socket on a group server's events endpoint, subscribed to `topics` (in this order) before
 * it connects; CURVE if `security` (the events socket has the group server's key).
 */
export function subscriber(
  endpoint: string,
  security: ClientSecurity | undefined,
  topics: readonly string[],
): zmq.Subscriber {
  const sock = new zmq.Subscriber({ linger: 0, receiveHighWaterMark: 10_000, ...clientOptions(security) });
  for (const t of topics) sock.subscribe(t);
  sock.connect(endpoint);
  return sock;
}

/** Error for a reply that is not 200. */
export function replyError(what: string, status: string, body: unknown): Error {
  const b = body as { code?: unknown; message?: unknown } | undefined;
  return new Error(`${what}: ${status} ${String(b?.code)}: ${String(b?.message)}`);
}

/**
 * One request/reply on a socket nobody else is receiving from (set-up steps, before a measured
 * loop takes the socket over), signed by `as`. Events that arrive meanwhile are ignored.
 */
export async function call(
  sock: zmq.Dealer,
  as: Identity,
  command: string,
  body: object,
  id = "setup",
): Promise<unknown> {
  await sock.send(encodeRequest(command, id, signed(as, body)));
  for (;;) {
    const msg = decodeReply(await sock.receive());
    if (msg.type === "reply" && msg.id === id) {
      if (msg.status !== "200") throw replyError(command, msg.status, msg.body);
      return msg.body;
    }
  }
}

/**
 * A member's connection with its own receive loop: requests, signed by the member, are matched to
 * replies by id. Sends are serialized (zeromq.js allows one pending send per socket).
 */
export class Conn {
  readonly sock: zmq.Dealer;
  private readonly pending = new Map<string, { resolve: (b: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private sending: Promise<void> = Promise.resolve();
  readonly loop: Promise<void>;

  constructor(
    endpoint: string,
    readonly as: Identity,
  ) {
    this.sock = dealer(endpoint, as.security);
    this.loop = this.receive();
  }

  private async receive(): Promise<void> {
    try {
      for await (const frames of this.sock) {
        const msg = decodeReply(frames);
        if (msg.type === "reply") {
          const p = this.pending.get(msg.id);
          if (p === undefined) continue;
          this.pending.delete(msg.id);
          if (msg.status === "200") p.resolve(msg.body);
          else p.reject(replyError(msg.id, msg.status, msg.body));
        }
      }
    } catch (err) {
      if (!this.sock.closed) throw err;
    }
  }

  /** Sends a request; resolves with the reply body (rejects on a non-200 reply). */
  request(command: string, body: object): Promise<unknown> {
    const id = (this.nextId++).toString(36);
    const frames = encodeRequest(command, id, signed(this.as, body));
    const reply = new Promise<unknown>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.sending = this.sending.then(() => this.sock.send(frames));
    return Promise.all([reply, this.sending]).then(([b]) => b);
  }

  /** Sends without waiting for the reply; resolves once handed to ZeroMQ. */
  post(command: string, body: object, onReply?: (status: "ok" | Error) => void): Promise<void> {
    const id = (this.nextId++).toString(36);
    const frames = encodeRequest(command, id, signed(this.as, body));
    this.pending.set(id, {
      resolve: () => onReply?.("ok"),
      reject: (e) => onReply?.(e),
    });
    this.sending = this.sending.then(() => this.sock.send(frames));
    return this.sending;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  async close(): Promise<void> {
    if (!this.sock.closed) this.sock.close();
    await this.loop;
  }
}
