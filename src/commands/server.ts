import { directoryBindFlag, quietFlag } from "../cli/flags.js";
import { type Running, ServerCommand } from "../cli/server-command.js";
import type { Logger } from "../util/log.js";

export default class Server extends ServerCommand<typeof Server> {
  static override summary = "Run the message server (the directory of groups)";
  static override description =
    "Group servers register their groups here and refresh the registration every second; users ask it for the list of groups. Runs until SIGINT or SIGTERM.";
  static override examples = [
    "<%= config.bin %> server",
    "<%= config.bin %> server --bind tcp://0.0.0.0:5555",
    "<%= config.bin %> server --bind 127.0.0.1:0   # pick a free port; the ready line shows it",
  ];
  static override flags = {
    bind: directoryBindFlag("endpoint to listen on"),
    quiet: quietFlag(),
  };

  protected async serve(log: Logger, requests: Logger): Promise<Running> {
    const [{ RpcServer }, { Directory }, { bindEndpoint }] = await Promise.all([
      import("../net/rpc-server.js"),
      import("../directory/directory.js"),
      import("../net/endpoint.js"),
    ]);
    const directory = new Directory(requests);
    directory.sweepEvery();
    const rpc = new RpcServer({ handlers: directory.handlers, log });
    const endpoint = await rpc.listen(bindEndpoint(this.flags.bind));
    this.log(`gm server: directory listening on ${endpoint} (pid ${process.pid})`);
    return rpc;
  }
}
