import chalk from "chalk";
import { groupArg } from "../../cli/flags.js";
import { UserCommand } from "../../cli/user-command.js";
import { printable } from "../../util/printable.js";

export default class Join extends UserCommand<typeof Join> {
  static override summary = "Join a group";
  static override description =
    "Finds the group through the directory, joins it on its group server and remembers it in your profile.";
  static override examples = [
    "<%= config.bin %> user join general",
    "<%= config.bin %> user join general --profile bob",
  ];
  static override args = { group: groupArg() };

  async run(): Promise<void> {
    const { args } = await this.parse(Join);
    const result = await (await this.connect()).join(args.group);
    if (this.flags.json) return this.json(result);
    const verb = result.joined ? "Joined" : "Already a member of";
    this.log(
      `${verb} ${chalk.cyan(result.group)} (${result.members} member${result.members === 1 ? "" : "s"}) at ${printable(result.address)}`,
    );
  }
}
