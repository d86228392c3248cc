/**
 * A TCP relay on 127.0.0.1 that forwards every connection to a target port and records every byte
 * in both directions: what an eavesdropper on the wire between a client and a server would see.
 * The target may be set after the relay listens (a server told to advertise the relay's address
 * must know it before it starts).
 */
import { connect, createServer, type Server, type Socket } from "node:net";

export class Relay {
  /** Bytes from clients to the target, and from the target back, in arrival order. */
  readonly up: Buffer[] = [];
  readonly down: Buffer[] = [];
  /** The port connections are forwarded to; connections that arrive while it is unset are dropped. */
  target: number | undefined;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target?: number): Promise<Relay> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", resolve);
    });
    const relay = new Relay(server, (server.address() as { port: number }).port);
    relay.target = target;
    server.on("connection", (client) => relay.forward(client));
    return relay;
  }

  get endpoint(): string {
    return `tcp://127.0.0.1:${this.port}`;
  }

  private forward(client: Socket): void {
    this.sockets.add(client);
    client.on("close", () => this.sockets.delete(client));
    client.on("error", () => client.destroy());
    if (this.target === undefined) {
      client.destroy();
      return;
    }
    const upstream = connect(this.target, "127.0.0.1");
    this.sockets.add(upstream);
    upstream.on("close", () => {
      this.sockets.delete(upstream);
      client.destroy();
    });
    upstream.on("error", () => upstream.destroy());
    client.on("close", () => upstream.destroy());
    client.on("data", (chunk: Buffer) => {
      this.up.push(chunk);
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      this.down.push(chunk);
      client.write(chunk);
    });
  }

  /** Everything recorded, both directions. */
  bytes(): Buffer {
    return Buffer.concat([...this.up, ...this.down]);
  }

  /** Bytes recorded in each direction. */
  counts(): { up: number; down: number } {
    const sum = (chunks: Buffer[]) => chunks.reduce((n, c) => n + c.length, 0);
    return { up: sum(this.up), down: sum(this.down) };
  }

  /** Which of `needles` appear anywhere in the recording (as UTF-8, as in JSON on the wire). */
  found(needles: readonly string[]): string[] {
    const all = this.bytes();
    return needles.filter((n) => all.includes(Buffer.from(n, "utf8")));
  }

  /** Stops listening and cuts every connection. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
