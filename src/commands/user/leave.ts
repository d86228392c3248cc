import chalk from "chalk";
import { groupArg } from "../../cli/flags.js";
import { UserCommand } from "../../cli/user-command.js";

export default class Leave extends UserCommand<typeof Leave> {
  static override summary = "Leave a group";
  static override description = "Leaves the group on its server and forgets it in your profile.";
  static override examples = ["<%= config.bin %> user leave general"];
  static override args = { group: groupArg() };

  async run(): Promise<void> {
    const { args } = await this.parse(Leave);
    const result = await (await this.connect()).leave(args.group);
    if (this.flags.json) return this.json(result);
    this.log(
      `Left ${chalk.cyan(result.group)} (${result.members === 1 ? "1 member remains" : `${result.members} members remain`})`,
    );
  }
}
