import { Flags } from "@oclif/core";
import { dataDirFlag, directoryBindFlag, maxConnectionsFlag, quietFlag } from "../cli/flags.js";
import {
  announceLocally,
  deniedKeys,
  denyKeyFlag,
  INSECURE_WARNING,
  insecureFlag,
  serverKeyPair,
} from "../cli/keys.js";
import { type Running, ServerCommand } from "../cli/server-command.js";
import { UsageError } from "../protocol/errors.js";
import { type Key, parseKey } from "../protocol/keys.js";
import { NAME_LAPSE_DAYS } from "../protocol/timing.js";
import { groupName } from "../protocol/validate.js";
import { defaultDataDir } from "../util/config.js";
import type { Logger } from "../util/log.js";
import { printable } from "../util/printable.js";

export default class Server extends ServerCommand<typeof Server> {
  static override summary = "Run the message server (the directory of groups)";
  static override description =
    "Group servers register their groups here and refresh the registration every second; users ask it for the list of groups. Its CURVE keypair and the group names it has bound to group server keys are kept in --data-dir. Runs until SIGINT or SIGTERM.";
  static override examples = [
    "<%= config.bin %> server",
    "<%= config.bin %> server --bind tcp://0.0.0.0:5555",
    "<%= config.bin %> server --bind 127.0.0.1:0   # pick a free port; the ready line shows it",
    "<%= config.bin %> server --allow-key 'rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7' # only this group server registers",
    "<%= config.bin %> server --release general   # let another group server take the name",
  ];
  static override flags = {
    bind: directoryBindFlag("endpoint to listen on"),
    "data-dir": dataDirFlag("directory for the server's key and name bindings"),
    "allow-key": Flags.string({
      description: "only group servers with this public key may register (repeat for several)",
      multiple: true,
      helpGroup: "SECURITY",
    }),
    release: Flags.string({
      description: "forget which group server key this group name belongs to, then serve (repeat for several)",
      multiple: true,
      helpGroup: "SECURITY",
    }),
    "name-lapse-days": Flags.integer({
      description: "a group name's binding to a key lapses this many days after the name was last registered",
      min: 1,
      max: 36_500,
      default: NAME_LAPSE_DAYS,
      helpGroup: "SECURITY",
    }),
    "deny-key": denyKeyFlag(),
    insecure: insecureFlag(),
    quiet: quietFlag(),
    "max-connections": maxConnectionsFlag(),
  };

  protected async serve(log: Logger, requests: Logger): Promise<Running> {
    const { flags } = this;
    const [{ RpcServer }, { Directory }, { NameBindings }, { bindEndpoint }, { join }] = await Promise.all([
      import("../net/rpc-server.js"),
      import("../directory/directory.js"),
      import("../directory/names.js"),
      import("../net/endpoint.js"),
      import("node:path"),
    ]);
    const dataDir = flags["data-dir"] ?? defaultDataDir();
    const allowed = flags["allow-key"]?.map((k) => UsageError.check(() => parseKey(k, "--allow-key")));
    const names = new NameBindings(flags.insecure ? undefined : join(dataDir, "directory-names.json"), {
      lapseMs: flags["name-lapse-days"] * 24 * 60 * 60 * 1000,
    });
    for (const line of names.dropped) log(printable(line));
    for (const name of flags.release ?? []) {
      UsageError.check(() => groupName({ "--release": name }, "--release"));
      log(names.release(name) ? `released the group name "${name}"` : `the group name "${name}" was not bound`);
    }
    const keys = flags.insecure ? undefined : serverKeyPair(dataDir, "directory");
    if (flags.insecure) this.logToStderr(INSECURE_WARNING);
    const directory = new Directory({
      log: requests,
      names,
      ...(allowed !== undefined && { allowedKeys: new Set<Key>(allowed) }),
    });
    directory.sweepEvery();
    const deny = deniedKeys(flags["deny-key"]);
    const rpc = new RpcServer({ handlers: directory.handlers, log, requests, deny, ...(keys && { keys }) });
    const endpoint = await rpc.listen(bindEndpoint(flags.bind));
    if (keys !== undefined) announceLocally(endpoint, keys.publicKey);
    this.log(
      `gm server: directory listening on ${endpoint} (pid ${process.pid}); ` +
        (keys ? `public key ${keys.publicKey}` : "INSECURE: plain text"),
    );
    return rpc;
  }
}
