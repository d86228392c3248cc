import { Command, Flags } from "@oclif/core";
import { fail } from "../cli/errors.js";
import { serverHeap } from "../cli/server-flags.js";
import { untilSignal } from "../cli/signals.js";
import { DEFAULT_SERVER } from "../util/config.js";

export default class Server extends Command {
  static override summary = "Run the message server (the directory of groups)";
  static override description =
    "Group servers register their groups here and refresh the registration every second; users ask it for the list of groups. Runs until SIGINT or SIGTERM.";
  static override examples = [
    "<%= config.bin %> server",
    "<%= config.bin %> server --bind tcp://0.0.0.0:5555",
    "<%= config.bin %> server --bind 127.0.0.1:0   # pick a free port; the ready line shows it",
  ];
  static override flags = {
    bind: Flags.string({ char: "b", description: "endpoint to listen on", default: DEFAULT_SERVER }),
    quiet: Flags.boolean({ char: "q", description: "do not log each request" }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Server);
    // Listen for SIGINT/SIGTERM before anything is ready: a supervisor may stop us at any moment.
    const stopping = untilSignal();
    serverHeap();
    const [{ RpcServer }, { Directory }, { bindEndpoint }, { stampedLogger, silent }] = await Promise.all([
      import("../net/rpc-server.js"),
      import("../directory/directory.js"),
      import("../net/endpoint.js"),
      import("../util/log.js"),
    ]);
    const log = stampedLogger();
    let rpc: InstanceType<typeof RpcServer>;
    try {
      const directory = new Directory(flags.quiet ? silent : log);
      directory.sweepEvery();
      rpc = new RpcServer({ handlers: directory.handlers, log });
      const endpoint = await rpc.listen(bindEndpoint(flags.bind));
      this.log(`gm server: directory listening on ${endpoint} (pid ${process.pid})`);
    } catch (err) {
      return fail(this, err);
    }
    const signal = await stopping;
    log(`${signal}: shutting down`);
    await rpc.close();
  }
}
