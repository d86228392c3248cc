import { Flags } from "@oclif/core";
import {
  acceptLossFlag,
  dataDirFlag,
  directoryBindFlag,
  maxConnectionsFlag,
  quietFlag,
  recoveryCommands,
} from "../cli/flags.js";
import { announceLocally, INSECURE_WARNING, insecureFlag, serverKeyPair } from "../cli/keys.js";
import { type Running, ServerCommand } from "../cli/server-command.js";
import { UsageError } from "../protocol/errors.js";
import { groupName } from "../protocol/validate.js";
import { defaultDataDir } from "../util/config.js";
import type { Logger } from "../util/log.js";
import { printable } from "../util/printable.js";

export default class Up extends ServerCommand<typeof Up> {
  static override summary = "Run a whole local system: the message server and a group server in one process";
  static override description =
    "For trying gm on one machine: a message server and one group server hosting every --group, with their keys in --data-dir; then use `gm user ...` in another terminal. Runs until SIGINT or SIGTERM.";
  static override examples = ["<%= config.bin %> up", "<%= config.bin %> up --group general --group random"];
  static override flags = {
    group: Flags.string({
      char: "g",
      description: "group to host (repeat for several)",
      multiple: true,
      default: ["general", "random"],
    }),
    bind: directoryBindFlag("message server endpoint"),
    address: Flags.string({ char: "a", description: "group server endpoint", default: "tcp://127.0.0.1:5556" }),
    "data-dir": dataDirFlag(),
    insecure: insecureFlag(),
    quiet: quietFlag(),
    "max-connections": maxConnectionsFlag(),
    "accept-loss": acceptLossFlag(),
  };

  protected async serve(log: Logger, requests: Logger): Promise<Running> {
    const { flags } = this;
    const [
      { RpcServer },
      { Directory },
      { NameBindings },
      { GroupServer },
      { sqliteStores },
      { bindEndpoint },
      { join },
    ] = await Promise.all([
      import("../net/rpc-server.js"),
      import("../directory/directory.js"),
      import("../directory/names.js"),
      import("../group/group-server.js"),
      import("../store/sqlite.js"),
      import("../net/endpoint.js"),
      import("node:path"),
    ]);
    const dataDir = flags["data-dir"] ?? defaultDataDir();
    if (flags.insecure) this.logToStderr(INSECURE_WARNING);
    const directoryKeys = flags.insecure ? undefined : serverKeyPair(dataDir, "directory");
    const groupKeys = flags.insecure ? undefined : serverKeyPair(dataDir, "group");
    const names = new NameBindings(flags.insecure ? undefined : join(dataDir, "directory-names.json"));
    const directoryState = new Directory({ log: requests, names });
    directoryState.sweepEvery();
    const rpc = new RpcServer({
      handlers: directoryState.handlers,
      log,
      requests,
      ...(directoryKeys && { keys: directoryKeys }),
    });
    try {
      for (const name of flags.group) UsageError.check(() => groupName({ name }, "name"));
      const directory = await rpc.listen(bindEndpoint(flags.bind));
      const groups = await GroupServer.start({
        names: flags.group,
        bind: bindEndpoint(flags.address),
        directory: directory.replace("tcp://0.0.0.0:", "tcp://127.0.0.1:"),
        ...(groupKeys && directoryKeys && { keys: groupKeys, directoryKey: directoryKeys.publicKey }),
        openStore: sqliteStores(dataDir, {
          acceptLoss: flags["accept-loss"],
          warn: (line) => log(printable(line)),
          commandLines: recoveryCommands(this.config.bin, ["up"], this.argv, dataDir),
        }),
        log: requests,
        serverLog: log,
      });
      if (directoryKeys !== undefined) announceLocally(directory, directoryKeys.publicKey);
      if (groupKeys !== undefined) announceLocally(groups.endpoint, groupKeys.publicKey);
      this.log(
        `gm up: message server on ${directory}; groups ${flags.group.join(", ")} on ${groups.address} (pid ${process.pid}); ` +
          (directoryKeys ? `message server public key ${directoryKeys.publicKey}` : "INSECURE: plain text"),
      );
      this.log(`try:   gm user list-groups   gm user join ${flags.group[0]}   gm user shell`);
      return {
        close: async () => {
          await groups.close();
          await rpc.close();
        },
      };
    } catch (err) {
      await rpc.close();
      throw err;
    }
  }
}
