import { Args } from "@oclif/core";
import chalk from "chalk";
import { groupArg } from "../../cli/flags.js";
import { UserCommand } from "../../cli/user-command.js";
import { FINGERPRINT_INVITE_WARNING } from "../../user/format.js";

export default class Invite extends UserCommand<typeof Invite> {
  static override summary = "Invite a user to a group you own (for invite-only groups)";
  static override description = [
    "Only the group's owner may do this. The user is named by public key (the robust form: ask them for",
    "the key `gm user whoami` shows), user id, or fingerprint (8 or more hex digits): a fingerprint",
    "invite admits the first key whose id starts with it. See `gm user invite-only` to close the group.",
  ].join(" ");
  static override examples = [
    "<%= config.bin %> user invite general bgM5An52=5IodVQVDf=RaxpnVwK2DdU-fV2cjfJ8",
    "<%= config.bin %> user invite general 83f18b88-da4f-8250-8498-e28f81a04d25",
    "<%= config.bin %> user invite general 83f18b88",
  ];
  static override args = {
    group: groupArg(),
    user: Args.string({ description: "who: public key, user id or fingerprint", required: true }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(Invite);
    const result = await (await this.connect()).invite(args.group, args.user);
    if (this.flags.json) return this.json(result);
    if (!result.invitee.includes("-")) this.logToStderr(chalk.yellow(`Warning: ${FINGERPRINT_INVITE_WARNING}`));
    const verb = result.invited ? "Invited" : "Already invited:";
    const open = result.inviteOnly ? "" : chalk.dim(" (the group is open to all for now)");
    this.log(`${verb} ${result.invitee} to ${chalk.cyan(result.group)}${open}`);
  }
}
