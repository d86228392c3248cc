import { Command, Flags } from "@oclif/core";
import { fail } from "../cli/errors.js";
import { serverHeap } from "../cli/server-flags.js";
import { untilSignal } from "../cli/signals.js";
import type { GroupServer as GroupServerType } from "../group/group-server.js";
import { UsageError } from "../protocol/errors.js";
import { groupName } from "../protocol/validate.js";
import { DEFAULT_SERVER, defaultDataDir } from "../util/config.js";

export default class Up extends Command {
  static override summary = "Run a whole local system: the message server and group servers in one process";
  static override description =
    "For trying gm on one machine: then use `gm user ...` in another terminal. Runs until SIGINT or SIGTERM.";
  static override examples = ["<%= config.bin %> up", "<%= config.bin %> up --group general --group random"];
  static override flags = {
    group: Flags.string({
      char: "g",
      description: "group to host (repeat for several)",
      multiple: true,
      default: ["general", "random"],
    }),
    bind: Flags.string({ char: "b", description: "message server endpoint", default: DEFAULT_SERVER }),
    address: Flags.string({ char: "a", description: "group server endpoint", default: "tcp://127.0.0.1:5556" }),
    "data-dir": Flags.string({ char: "d", description: "directory for the group databases [default: $GM_HOME/data]" }),
    quiet: Flags.boolean({ char: "q", description: "do not log each request" }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Up);
    // Listen for SIGINT/SIGTERM before anything is ready: a supervisor may stop us at any moment.
    const stopping = untilSignal();
    serverHeap();
    const [{ RpcServer }, { Directory }, { GroupServer }, { bindEndpoint }, { stampedLogger, silent }] =
      await Promise.all([
        import("../net/rpc-server.js"),
        import("../directory/directory.js"),
        import("../group/group-server.js"),
        import("../net/endpoint.js"),
        import("../util/log.js"),
      ]);
    const log = stampedLogger();
    const requests = flags.quiet ? silent : log;
    const directoryState = new Directory(requests);
    directoryState.sweepEvery();
    const rpc = new RpcServer({ handlers: directoryState.handlers, log });
    let groups: GroupServerType;
    try {
      for (const name of flags.group) UsageError.check(() => groupName({ name }, "name"));
      const directory = await rpc.listen(bindEndpoint(flags.bind));
      groups = await GroupServer.start({
        names: flags.group,
        bind: bindEndpoint(flags.address),
        directory: directory.replace("tcp://0.0.0.0:", "tcp://127.0.0.1:"),
        dataDir: flags["data-dir"] ?? defaultDataDir(),
        log: requests,
      });
      this.log(
        `gm up: message server on ${directory}; groups ${flags.group.join(", ")} on ${groups.address} (pid ${process.pid})`,
      );
      this.log(`try:   gm user list-groups   gm user join ${flags.group[0]}   gm user shell`);
    } catch (err) {
      await rpc.close();
      return fail(this, err);
    }
    const signal = await stopping;
    log(`${signal}: shutting down`);
    await groups.close();
    await rpc.close();
  }
}
