import { Args } from "@oclif/core";
import chalk from "chalk";
import { groupArg } from "../../cli/flags.js";
import { UserCommand } from "../../cli/user-command.js";

export default class InviteOnly extends UserCommand<typeof InviteOnly> {
  static override summary = "Make a group you own invite-only, or open it again";
  static override description = [
    "Only the group's owner may do this. When on, only the owner, the current members and users invited",
    "with `gm user invite` can join; others get FORBIDDEN.",
  ].join(" ");
  static override examples = [
    "<%= config.bin %> user invite-only general on",
    "<%= config.bin %> user invite-only general off",
  ];
  static override args = {
    group: groupArg(),
    state: Args.string({ description: "on or off", required: true, options: ["on", "off"] }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(InviteOnly);
    const result = await (await this.connect()).setInviteOnly(args.group, args.state === "on");
    if (this.flags.json) return this.json(result);
    const state = result.inviteOnly ? "invite-only" : "open to all";
    this.log(`${chalk.cyan(result.group)} is ${state}${result.changed ? "" : " (it was already)"}`);
  }
}
