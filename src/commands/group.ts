import { Command, Flags } from "@oclif/core";
import chalk from "chalk";
import { fail } from "../cli/errors.js";
import { serverHeap } from "../cli/server-flags.js";
import { untilSignal } from "../cli/signals.js";
import type { GroupServer as GroupServerType } from "../group/group-server.js";
import { UsageError } from "../protocol/errors.js";
import { groupName } from "../protocol/validate.js";
import { DEFAULT_SERVER, defaultDataDir } from "../util/config.js";

export default class Group extends Command {
  static override summary = "Run a group server hosting one or more groups";
  static override description = [
    "Keeps each group's members and messages in SQLite under --data-dir, registers the groups with the",
    "message server (refreshing every second), and serves join, leave, send and history requests.",
    "New messages are published to members on a second port (--events-address; any free port by default).",
    "Without --name on a terminal it asks for the name. Runs until SIGINT or SIGTERM.",
  ].join("\n");
  static override examples = [
    "<%= config.bin %> group --name general --address tcp://127.0.0.1:6001",
    "<%= config.bin %> group --name general --name random --address 127.0.0.1:6001",
    "<%= config.bin %> group --name general --address tcp://*:6001 --events-address tcp://*:6002 --advertise tcp://myhost.example:6001",
  ];
  static override flags = {
    name: Flags.string({ char: "n", description: "group name (repeat for several groups)", multiple: true }),
    address: Flags.string({
      char: "a",
      description: "endpoint to listen on: tcp://host:port or host:port (port 0 picks a free one)",
      required: true,
    }),
    advertise: Flags.string({
      description: "address users should connect to, when it differs from --address (e.g. binding tcp://*:6001)",
    }),
    "events-address": Flags.string({
      char: "e",
      description: "endpoint to publish live messages on [default: the host of --address, any free port]",
    }),
    server: Flags.string({
      char: "s",
      description: `message server to register with [default: $GM_SERVER or ${DEFAULT_SERVER}]`,
    }),
    "data-dir": Flags.string({ char: "d", description: "directory for the group databases [default: $GM_HOME/data]" }),
    quiet: Flags.boolean({ char: "q", description: "do not log each request" }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Group);
    // Listen for SIGINT/SIGTERM before anything is ready: a supervisor may stop us at any moment.
    const stopping = untilSignal();
    serverHeap();
    const names = flags.name ?? [await this.askName()];
    const [{ GroupServer }, { bindEndpoint, connectEndpoint }, { stampedLogger, silent }] = await Promise.all([
      import("../group/group-server.js"),
      import("../net/endpoint.js"),
      import("../util/log.js"),
    ]);
    const log = stampedLogger();
    let server: GroupServerType;
    try {
      for (const name of names) UsageError.check(() => groupName({ name }, "name"));
      server = await GroupServer.start({
        names,
        bind: bindEndpoint(flags.address),
        ...(flags.advertise !== undefined && { advertise: flags.advertise }),
        ...(flags["events-address"] !== undefined && { events: bindEndpoint(flags["events-address"]) }),
        directory: connectEndpoint(flags.server ?? process.env.GM_SERVER ?? DEFAULT_SERVER),
        dataDir: flags["data-dir"] ?? defaultDataDir(),
        log: flags.quiet ? silent : log,
      });
    } catch (err) {
      return fail(this, err);
    }
    for (const g of server.details()) {
      const reg = g.registration;
      const state =
        reg.state === "registered"
          ? chalk.green(reg.state)
          : reg.state === "rejected"
            ? chalk.red(reg.state)
            : chalk.yellow(reg.state);
      this.log(chalk.bold(`Group ${g.name}`));
      this.log(`  id            ${g.id}`);
      this.log(`  members       ${g.members}`);
      this.log(`  messages      ${g.messages}`);
      this.log(`  registration  ${state} (${reg.detail})`);
      this.log(`  address       ${g.address}`);
      this.log(`  events        ${g.events}`);
    }
    const rejected = server.details().filter((g) => g.registration.state === "rejected");
    if (rejected.length > 0) {
      await server.close();
      return fail(this, new Error(rejected.map((g) => g.registration.detail).join("; ")));
    }
    this.log(`gm group: serving ${names.join(", ")} on ${server.endpoint} (pid ${process.pid})`);
    const signal = await stopping;
    log(`${signal}: shutting down`);
    await server.close();
  }

  private async askName(): Promise<string> {
    if (!process.stdin.isTTY) {
      this.error("--name is required when stdin is not a terminal", { exit: 2 });
    }
    const { createInterface } = await import("node:readline/promises");
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    try {
      return (await rl.question("Group name: ")).trim();
    } finally {
      rl.close();
    }
  }
}
