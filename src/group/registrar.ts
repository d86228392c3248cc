import { RpcClient } from "../net/rpc-client.js";
import type { ClientSecurity } from "../net/security.js";
import { DirectoryCommand, HandshakeError, REGISTER_INTERVAL_MS, RemoteError, Status } from "../protocol/index.js";
import type { Logger } from "../util/log.js";

export interface Registration {
  readonly name: string;
  readonly id: string;
  readonly members: () => number;
}

export type RegistrationStatus = "registered" | "pending" | "rejected";

/** Where a group's registration stands; a refusal keeps the directory's error, with its code. */
export interface RegistrationState {
  readonly state: RegistrationStatus;
  readonly detail: string;
  readonly error?: RemoteError;
}

/**
 * Keeps a group server's groups registered with the directory: registers at start and refreshes
 * every interval (the heartbeat), so a restarted directory is repopulated within one interval and a
 * dead group server drops out once its refreshes stop.
 */
export class Registrar {
  private client: RpcClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  readonly status = new Map<string, RegistrationState>();

  constructor(
    private readonly directory: string,
    private readonly address: string,
    private readonly groups: readonly Registration[],
    private readonly log: Logger,
    private readonly intervalMs = REGISTER_INTERVAL_MS,
    /** CURVE towards the directory (the group server's keypair and the directory's key). */
    private readonly security?: ClientSecurity,
  ) {
    for (const g of groups) this.status.set(g.name, { state: "pending", detail: `waiting for ${directory}` });
  }

  /** Registers every group once (waiting for the answers), then keeps refreshing in the background. */
  async start(): Promise<void> {
    await this.round();
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.round().finally(() => this.schedule()), this.intervalMs);
  }

  private async round(): Promise<void> {
    // One try per round with a timeout under the interval: the next round is the retry. A client
    // whose request timed out is replaced, so requests never pile up for a directory that is down.
    try {
      this.client ??= new RpcClient(this.directory, {
        tries: 1,
        timeoutMs: Math.max(this.intervalMs, 500),
        ...(this.security && { security: this.security }),
      });
    } catch (err) {
      // No socket to be had (EMFILE: the process is out of file descriptors): the next round
      // tries again. Thrown from a timer, this used to end the whole group server.
      this.log(`cannot reach the directory at ${this.directory} this round: ${String(err)}`);
      return;
    }
    const client = this.client;
    let lost = false;
    await Promise.all(
      this.groups.map(async (g) => {
        const before = this.status.get(g.name)?.state;
        try {
          await client.request(DirectoryCommand.Register, {
            name: g.name,
            id: g.id,
            address: this.address,
            members: g.members(),
          });
          this.status.set(g.name, { state: "registered", detail: `with ${this.directory}` });
          if (before !== "registered" && before !== undefined)
            this.log(`registered "${g.name}" with ${this.directory}`);
        } catch (err) {
          // By status, as PROTOCOL.md §3 defines it: only a 400 says this request can never succeed.
          // A 300 (the directory is restarting) or a 500 may pass by the next round; so may a timeout.
          if (err instanceof RemoteError && err.status === Status.BadRequest) {
            if (before !== "rejected") this.log(`directory refused "${g.name}": ${err.message}`);
            this.status.set(g.name, { state: "rejected", detail: err.message, error: err });
          } else if (err instanceof RemoteError) {
            const detail = `${this.directory} answered ${err.status} ${err.code}: ${err.message}`;
            if (this.status.get(g.name)?.detail !== detail)
              this.log(`directory did not take "${g.name}" yet: ${detail}`);
            this.status.set(g.name, { state: "pending", detail });
          } else {
            lost = true;
            if (before === "registered") this.log(`lost the directory at ${this.directory}; retrying`);
            const detail = err instanceof HandshakeError ? err.message : `${this.directory} is not answering`;
            if (err instanceof HandshakeError && this.status.get(g.name)?.detail !== detail) this.log(detail);
            this.status.set(g.name, { state: "pending", detail });
          }
        }
      }),
    );
    if (lost && this.client === client) {
      this.client = undefined;
      await client.close();
    }
  }

  /** Stops refreshing and tells the directory the groups are gone (best effort, brief). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    // Same connection as the last REGISTER, so the UNREGISTER cannot overtake it.
    const client =
      this.client ?? new RpcClient(this.directory, { tries: 1, ...(this.security && { security: this.security }) });
    this.client = undefined;
    await Promise.allSettled(
      this.groups.map((g) =>
        client.request(DirectoryCommand.Unregister, { name: g.name, address: this.address }, { timeoutMs: 1000 }),
      ),
    );
    await client.close();
  }
}
