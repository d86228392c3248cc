import { Flags } from "@oclif/core";
import chalk from "chalk";
import { groupArg } from "../../cli/flags.js";
import { UserCommand } from "../../cli/user-command.js";
import { printable } from "../../util/printable.js";

export default class Leave extends UserCommand<typeof Leave> {
  static override summary = "Leave a group";
  static override description = [
    "Leaves the group on its server and forgets it in your profile. Like join, leaving is idempotent: a group",
    "you have not joined is a note, not an error (exit 0). --force forgets a group whose server is gone for",
    "good without reaching it; that server, should it come back, may still list you as a member.",
  ].join(" ");
  static override examples = [
    "<%= config.bin %> user leave general",
    "<%= config.bin %> user leave old-project --force   # its server is gone for good",
  ];
  static override args = { group: groupArg() };
  static override flags = {
    force: Flags.boolean({
      description: "forget the group without reaching its server (for a server that is gone for good)",
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Leave);
    const result = await (await this.connect(false, { directory: !flags.force })).leave(args.group, {
      force: flags.force,
    });
    if (this.flags.json) return this.json(result);
    const group = chalk.cyan(printable(result.group));
    if (!result.joined) {
      this.log(`Not a member of ${group}: nothing to leave`);
    } else if (result.forced) {
      this.log(
        `Forgot ${group} without reaching its server (${printable(result.address ?? "")}): it may still list you as a member`,
      );
    } else {
      const remain = result.members === 1 ? "1 member remains" : `${result.members} members remain`;
      const note = result.left === false ? "; its server did not have you as a member" : "";
      this.log(`Left ${group} (${remain}${note})`);
    }
  }
}
