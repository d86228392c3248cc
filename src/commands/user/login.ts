import { Args } from "@oclif/core";
import chalk from "chalk";
import { UserCommand } from "../../cli/user-command.js";
import { fingerprintOf } from "../../protocol/keys.js";
import { printable } from "../../util/printable.js";

export default class Login extends UserCommand<typeof Login> {
  static override summary = "Remember a message server in your profile, once it answers";
  static override description = [
    "Asks the message server (a PING) and, once it has answered, saves its endpoint in your profile, with",
    "its public key if you give one (--server-key or GM_SERVER_KEY): later commands need neither. Which",
    "message server a command uses: --server, else GM_SERVER, else the profile's, else tcp://127.0.0.1:5555.",
    "`--server` on any command saves it the same way once it answers; `gm user whoami` shows the one in use.",
  ].join(" ");
  static override examples = [
    "<%= config.bin %> user login tcp://chat.example.org:5555 --server-key 'rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7'",
    "<%= config.bin %> user login 127.0.0.1:5555",
    "<%= config.bin %> user login tcp://chat.example.org:5555 --profile work",
  ];
  static override args = {
    endpoint: Args.string({ description: "the message server: tcp://host:port or host:port", required: true }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(Login);
    this.useServer(args.endpoint);
    const client = await this.connect();
    const { groups } = await client.pingDirectory();
    this.remember();
    const profile = client.profile;
    const result = {
      server: client.server,
      groups,
      profile: profile.profile,
      fingerprint: fingerprintOf(profile.data.uuid),
      saved: profile.data.server === client.server,
    };
    const env = process.env.GM_SERVER;
    const shadowed = env !== undefined && env !== "" && env !== client.server;
    if (this.flags.json) return this.json({ ...result, ...(shadowed && { shadowedBy: "GM_SERVER" }) });
    this.log(
      `Logged in to ${chalk.cyan(printable(client.server))} (${groups} group${groups === 1 ? "" : "s"} there) as ` +
        `${printable(profile.data.name)} (${result.fingerprint}); saved in profile "${profile.profile}"`,
    );
    if (shadowed) {
      this.logToStderr(
        chalk.yellow(
          `warning: GM_SERVER=${printable(env)} is set and comes before the profile's server: unset it to use this one`,
        ),
      );
    }
  }
}
