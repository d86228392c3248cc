import { setFlagsFromString } from "node:v8";
import { Command, type Interfaces } from "@oclif/core";
import { type Logger, silent, stampedLogger } from "../util/log.js";
import { fail } from "./errors.js";
import { untilSignal } from "./signals.js";

export type ServerFlags<T extends typeof Command> = Interfaces.InferredFlags<T["flags"]>;

/** What a server command started: closed, sockets and storage, when a signal comes. */
export interface Running {
  close(): Promise<void>;
}

/**
 * Keeps a long-running server's young generation at its initial size. V8 otherwise grows it to
 * tens of MB under pipelined load (requests stay alive across a disk sync, survive scavenges and
 * make V8 enlarge the nursery), which is most of a group server's resident memory; small, frequent
 * scavenges cost no measurable throughput here (docs/PERFORMANCE.md, "Memory").
 */
export function serverHeap(): void {
  setFlagsFromString("--semi-space-growth-factor=1");
}

/**
 * Base of the long-running commands (`server`, `group`, `up`): parses the flags, listens for
 * SIGINT/SIGTERM before anything is ready (a supervisor may stop us at any moment), sets the server
 * heap, hands `serve()` a stamped logger (and one that is silent under --quiet, for per-request
 * lines), reports a failure to start as one line with its exit code, and closes what `serve()`
 * started when the signal comes, so `run()` never returns with sockets open.
 */
export abstract class ServerCommand<T extends typeof Command> extends Command {
  protected flags!: ServerFlags<T>;

  /**
   * Starts the server (importing ZeroMQ and SQLite lazily, so `--help` stays fast), prints its
   * ready line, and returns what to close. A failure must close whatever it had started.
   */
  protected abstract serve(log: Logger, requests: Logger): Promise<Running>;

  /**
   * Makes sure the soft limit on open files is the hard one (Node raises it at start; where it
   * did not, gm does) and sets the cap on connections from it (connections.ts), logging both: a server at the common 1024 would otherwise run out of file
   * descriptors at about a thousand idle connections, and libzmq then spins at full CPU.
   */
  private async limitConnections(log: Logger, flag: number | undefined): Promise<void> {
    const { raiseFileLimit, defaultMaxConnections, setMaxConnections } = await import("../net/connections.js");
    const limit = raiseFileLimit();
    const max = flag ?? defaultMaxConnections(limit.soft);
    setMaxConnections(max);
    const files =
      limit.raisedFrom !== undefined
        ? `open files: raised the limit from ${limit.raisedFrom} to ${limit.soft}`
        : `open files: limit ${limit.soft}${limit.problem !== undefined ? ` (not raised: ${limit.problem})` : ""}`;
    log(`${files}; at most ${max} connections at once (--max-connections)`);
    if (Number.isFinite(limit.soft) && max * 2 + 128 > limit.soft)
      log(
        `warning: --max-connections ${max} leaves little of the ${limit.soft} open files for connections that never ` +
          "handshake; a flood of them can exhaust the limit for a few seconds",
      );
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(this.ctor);
    this.flags = flags as ServerFlags<T>;
    const stopping = untilSignal();
    serverHeap();
    const log = stampedLogger();
    await this.limitConnections(log, (flags as { "max-connections"?: number })["max-connections"]);
    let running: Running;
    try {
      running = await this.serve(log, (flags as { quiet?: boolean }).quiet === true ? silent : log);
    } catch (err) {
      return fail(this, err);
    }
    const signal = await stopping;
    log(`${signal}: shutting down`);
    await running.close();
  }
}
