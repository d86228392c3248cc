import { Args } from "@oclif/core";
import chalk from "chalk";
import { groupArg } from "../../cli/flags.js";
import { UserCommand } from "../../cli/user-command.js";

export default class Unbar extends UserCommand<typeof Unbar> {
  static override summary = "Let a barred key join a group you own again";
  static override description =
    "Only the group's owner may do this. The user is named by public key, user id or fingerprint.";
  static override examples = ["<%= config.bin %> user unbar general 83f18b88"];
  static override args = {
    group: groupArg(),
    member: Args.string({ description: "the barred user: public key, user id or fingerprint", required: true }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(Unbar);
    const result = await (await this.connect()).unbar(args.group, args.member);
    if (this.flags.json) return this.json(result);
    const verb = result.unbarred ? "Unbarred" : "Was not barred:";
    this.log(`${verb} ${result.member} in ${chalk.cyan(result.group)}`);
  }
}
