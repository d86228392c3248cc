import { Args, Flags } from "@oclif/core";
import chalk from "chalk";
import { fail } from "../cli/errors.js";
import { acceptLossFlag, dataDirFlag, maxConnectionsFlag, quietFlag, recoveryCommands } from "../cli/flags.js";
import {
  announceLocally,
  deniedKeys,
  denyKeyFlag,
  directoryKey,
  INSECURE_WARNING,
  insecureFlag,
  serverKeyFlag,
  serverKeyPair,
} from "../cli/keys.js";
import { type Running, ServerCommand } from "../cli/server-command.js";
import { GmError, type RemoteError, UsageError } from "../protocol/errors.js";
import { parseKey, userIdOf } from "../protocol/keys.js";
import { groupName, repeatedGroupName, uuid } from "../protocol/validate.js";
import type { SyncCounts } from "../store/types.js";
import { DEFAULT_SERVER, defaultDataDir } from "../util/config.js";
import type { Logger } from "../util/log.js";
import { printable } from "../util/printable.js";

export default class Group extends ServerCommand<typeof Group> {
  static override summary = "Run a group server hosting one or more groups";
  static override description = [
    "Keeps each group's members and messages in SQLite under --data-dir, registers the groups with the",
    "message server (refreshing every second), and serves join, leave, send and history requests.",
    "New messages are published to members on a second port (--events-address; any free port by default).",
    "Without --name on a terminal it asks for the name. Runs until SIGINT or SIGTERM.",
  ].join(" ");
  static override examples = [
    "<%= config.bin %> group --name general --address tcp://127.0.0.1:6001",
    "<%= config.bin %> group --name general 127.0.0.1:6001   # the address as an argument, as in group.py",
    "<%= config.bin %> group --name general --name random --address 127.0.0.1:6001",
    "<%= config.bin %> group --name general --address tcp://*:6001 --events-address tcp://*:6002 --advertise tcp://myhost.example:6001",
    "<%= config.bin %> group --name general --address 127.0.0.1:6001 --owner bgM5An52=5IodVQVDf=RaxpnVwK2DdU-fV2cjfJ8",
  ];
  static override args = {
    address: Args.string({
      description: "endpoint to listen on, as --address (the original `group.py <group_address>`)",
      required: false,
    }),
  };
  static override flags = {
    // Not greedy: in `--name general 127.0.0.1:6001` the second word is the ADDRESS argument.
    name: Flags.string({
      char: "n",
      description: "group name (repeat for several groups)",
      multiple: true,
      multipleNonGreedy: true,
    }),
    address: Flags.string({
      char: "a",
      description:
        "endpoint to listen on: tcp://host:port or host:port (port 0 picks a free one); required (or ADDRESS) unless --check",
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
    "server-key": serverKeyFlag(false),
    "deny-key": denyKeyFlag(),
    owner: Flags.string({
      description:
        "public key (or user id) of the user who owns the hosted groups: may remove, bar and invite [default: each group keeps its owner, else its first member]",
    }),
    "data-dir": dataDirFlag(),
    insecure: insecureFlag(),
    quiet: quietFlag(),
    "max-connections": maxConnectionsFlag(),
    check: Flags.boolean({
      description:
        "check the stores of the --name groups (SQLite integrity, seqs without holes, unique ids, the high-water mark) instead of serving, changing nothing; exits 1 if any is damaged, missing or in use by a running server",
      default: false,
    }),
    "accept-loss": acceptLossFlag(),
  };

  /** The ADDRESS argument, if given. */
  private addressArg: string | undefined;

  override async run(): Promise<void> {
    const { flags, args } = await this.parse(Group);
    this.addressArg = args.address;
    if (!flags.check) return super.run();
    const names = flags.name ?? [];
    if (names.length === 0) this.error("--check needs --name", { exit: 2 });
    try {
      await this.check(names, flags["data-dir"]);
    } catch (err) {
      // A bad name is bad usage (exit 2) and a failure one clear line, as when serving.
      fail(this, err);
    }
  }

  /** `--check`: reports on each group's store; exits 1 if any is damaged, missing or in use. */
  private async check(names: readonly string[], dataDirFlag: string | undefined): Promise<void> {
    for (const name of names) UsageError.check(() => groupName({ name }, "name"));
    this.checkRepeated(names);
    const { checkStore } = await import("../store/check.js");
    const dataDir = dataDirFlag ?? defaultDataDir();
    let ok = true;
    for (const name of names) {
      const report = checkStore(dataDir, name);
      ok &&= report.ok;
      const verdict = report.ok
        ? chalk.green("ok")
        : report.inUse
          ? chalk.yellow("IN USE")
          : report.missing
            ? chalk.red("NO STORE")
            : chalk.red("DAMAGED");
      this.log(chalk.bold(`Group ${name}: ${verdict}`));
      for (const line of report.lines) this.log(`  ${line.ok ? "ok " : chalk.red("BAD")}  ${printable(line.text)}`);
    }
    if (!ok) this.exit(1);
  }

  protected async serve(log: Logger, requests: Logger): Promise<Running> {
    const { flags } = this;
    const { bindEndpoint, connectEndpoint } = await import("../net/endpoint.js");
    const bind = this.bindAddress(bindEndpoint);
    const names = flags.name ?? [await this.askName()];
    for (const name of names) UsageError.check(() => groupName({ name }, "name"));
    this.checkRepeated(names);
    const [{ GroupServer }, { sqliteStores }] = await Promise.all([
      import("../group/group-server.js"),
      import("../store/sqlite.js"),
    ]);
    const dataDir = flags["data-dir"] ?? defaultDataDir();
    const directory = connectEndpoint(flags.server ?? process.env.GM_SERVER ?? DEFAULT_SERVER);
    const keys = flags.insecure ? undefined : serverKeyPair(dataDir, "group");
    const owner = flags.owner === undefined ? undefined : UsageError.check(() => ownerId(flags.owner as string));
    if (flags.insecure) this.logToStderr(INSECURE_WARNING);
    const server = await GroupServer.start({
      names,
      bind,
      ...(flags.advertise !== undefined && { advertise: flags.advertise }),
      ...(flags["events-address"] !== undefined && { events: bindEndpoint(flags["events-address"]) }),
      directory,
      deny: deniedKeys(flags["deny-key"]),
      ...(keys && { keys, directoryKey: directoryKey(directory, { flag: flags["server-key"], pins: false }).key }),
      openStore: sqliteStores(dataDir, {
        acceptLoss: flags["accept-loss"],
        warn: (line) => log(printable(line)),
        commandLines: recoveryCommands(this.config.bin, ["group"], this.argv, dataDir),
      }),
      log: requests,
      serverLog: log,
      ...(owner !== undefined && { owner }),
    });
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
      // The highest seq, which counts the messages only without the gaps of an accepted loss.
      this.log(`  last seq      ${g.messages}`);
      this.log(`  registration  ${state} (${printable(reg.detail)})`);
      this.log(`  address       ${g.address}`);
      this.log(`  events        ${g.events}`);
    }
    // The directory refused a group (its name is taken): fail with the directory's own error,
    // code included, or with all of them when it refused several.
    const refusals = server.details().flatMap((g) => {
      const r = g.registration;
      return r.state === "rejected" && "error" in r && r.error !== undefined ? [r.error] : [];
    });
    if (refusals.length > 0) {
      await server.close();
      const [first] = refusals as [RemoteError, ...RemoteError[]];
      throw refusals.length === 1 ? first : new GmError(first.code, refusals.map((e) => e.message).join("; "));
    }
    if (keys !== undefined) announceLocally(server.endpoint, keys.publicKey);
    this.log(
      `gm group: serving ${server
        .details()
        .map((g) => g.name)
        .join(", ")} on ${server.endpoint} (pid ${process.pid}); ` +
        (keys ? `public key ${keys.publicKey}` : "INSECURE: plain text"),
    );
    return process.env.GM_SYNC_COUNTS === "1" ? reportSyncCounts(server, log) : server;
  }

  /**
   * Where to listen: --address, or the ADDRESS argument (`gm group 127.0.0.1:6001`, as the original
   * `group.py <group_address>`); both given must name the same endpoint. Bad usage (exit 2) otherwise.
   */
  private bindAddress(bindEndpoint: (address: string) => string): string {
    const flag = this.flags.address;
    const arg = this.addressArg;
    if (flag === undefined && arg === undefined) {
      throw new UsageError("--address (or the ADDRESS argument) is required to serve; or give --check");
    }
    const bind = bindEndpoint((flag ?? arg) as string);
    if (flag !== undefined && arg !== undefined && bindEndpoint(arg) !== bind) {
      throw new UsageError(`two addresses to listen on: ADDRESS ${arg} and --address ${flag}; give one`);
    }
    return bind;
  }

  /** `--name general --name GENERAL` is one group twice: bad usage (exit 2). */
  private checkRepeated(names: readonly string[]): void {
    const repeated = repeatedGroupName(names);
    if (repeated !== undefined) this.error(printable(repeated), { exit: 2 });
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

/**
 * For `npm run bench` (GM_SYNC_COUNTS=1): logs what the stores' syncs have done so far on each
 * SIGUSR2, as `sync counts: writes=W syncs=S markSyncs=M` (docs/PERFORMANCE.md), until closed.
 */
function reportSyncCounts(server: Running & { syncCounts(): SyncCounts | undefined }, log: Logger): Running {
  const report = (): void => {
    const c = server.syncCounts() ?? { writes: 0, syncs: 0, markSyncs: 0 };
    log(`sync counts: writes=${c.writes} syncs=${c.syncs} markSyncs=${c.markSyncs}`);
  };
  process.on("SIGUSR2", report);
  return {
    close: () => {
      process.off("SIGUSR2", report);
      return server.close();
    },
  };
}

/** `--owner`: a public key (Z85 or hex) as its user id, or a user id as it is. */
function ownerId(text: string): string {
  const t = text.trim();
  if (/^[0-9a-f]{8}-/i.test(t)) return uuid({ "--owner": t }, "--owner");
  return userIdOf(parseKey(t, "--owner"));
}
