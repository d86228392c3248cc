import { Flags } from "@oclif/core";
import { exitCode, fail } from "../cli/errors.js";
import { UserCommand } from "../cli/user-command.js";
import { DEFAULT_SERVER } from "../util/config.js";

/**
 * The user commands' flags; status remembers no server (a cron job's --server is not the user's
 * choice), and --display-name is hidden, as status shows no name.
 */
const baseFlags: typeof UserCommand.baseFlags = {
  ...UserCommand.baseFlags,
  server: {
    ...UserCommand.baseFlags.server,
    description: `directory (message server) endpoint [default: $GM_SERVER, the profile's, or ${DEFAULT_SERVER}]`,
  },
  "display-name": { ...UserCommand.baseFlags["display-name"], hidden: true },
};

export default class Status extends UserCommand<typeof Status> {
  static override summary = "Show the whole system at a glance: every group, its server, and whether it answers";
  static override description = [
    "Asks the message server for every registered group, then each group server, all at once, for its",
    "groups: whether it answers and in how many ms, members, messages, the time of the last message and",
    "the events endpoint. Needs no membership. Exit code 0 when every registered group answered, 1 when",
    "one did not (or refused), 3 when the message server did not answer. No colour when the output is",
    "not a terminal, nothing interactive: fit for cron and monitoring.",
  ].join(" ");
  static override examples = [
    "<%= config.bin %> status",
    "<%= config.bin %> status --json",
    "<%= config.bin %> status --server tcp://hosta.example:5555 --timeout 500",
    "<%= config.bin %> status --json > /dev/null || echo 'gm: something is down'",
  ];
  static override baseFlags = baseFlags;
  static override flags = {
    timeout: Flags.integer({
      char: "t",
      description: "how long each request waits for its reply, in ms (one try each)",
      default: 2000,
      min: 50,
      max: 600_000,
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Status);
    const { profile, server, security: access } = await this.directoryAccess();
    // Without `directory: false` a missing directory key is thrown, never returned.
    const key = access?.serverKey;
    if (key instanceof Error) throw key;
    const security = access && key !== undefined ? { keys: access.keys, serverKey: key } : undefined;
    const { formatStatus, statusFailure, systemStatus } = await import("../user/status.js");
    let status: Awaited<ReturnType<typeof systemStatus>>;
    try {
      status = await systemStatus({
        server,
        user: profile.data.uuid,
        timeoutMs: flags.timeout,
        ...(security && { security }),
      });
    } catch (err) {
      if (!this.flags.json) fail(this, err);
      const message = err instanceof Error ? err.message : String(err);
      const code = (err as { code?: unknown }).code;
      this.json({
        at: Date.now(),
        directory: { endpoint: server, answered: false, error: message, code },
        groups: [],
        ok: false,
      });
      return this.exit(exitCode(err));
    }
    if (this.flags.json) {
      this.json({ ...status, directory: { ...status.directory, answered: true } });
    } else {
      for (const line of formatStatus(status)) this.log(line);
      const failure = statusFailure(status);
      if (failure !== undefined) this.logToStderr(`Error: ${failure}`);
    }
    if (!status.ok) this.exit(1);
  }
}
