import { Args, Flags } from "@oclif/core";
import chalk from "chalk";
import { groupArg } from "../../cli/flags.js";
import { UserCommand } from "../../cli/user-command.js";

export default class Remove extends UserCommand<typeof Remove> {
  static override summary = "Remove a member from a group you own, and optionally bar their key";
  static override description = [
    "Only the group's owner may do this (others get FORBIDDEN). The member is named by public key, user id",
    "or fingerprint (the 8 hex digits gm shows beside names; more digits if several members share them).",
    "The member can join again unless --bar is given; `gm user unbar` lifts a bar.",
  ].join(" ");
  static override examples = [
    "<%= config.bin %> user remove general 83f18b88",
    "<%= config.bin %> user remove general 83f18b88-da4f-8250-8498-e28f81a04d25 --bar",
    "<%= config.bin %> user remove general bgM5An52=5IodVQVDf=RaxpnVwK2DdU-fV2cjfJ8 --bar",
  ];
  static override args = {
    group: groupArg(),
    member: Args.string({ description: "the member: public key, user id or fingerprint", required: true }),
  };
  static override flags = {
    bar: Flags.boolean({ description: "also bar the key from joining again (works for a key that is not a member)" }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Remove);
    const result = await (await this.connect()).remove(args.group, args.member, flags.bar);
    if (this.flags.json) return this.json(result);
    const what = result.left ? "Removed" : "Did not remove (not a member)";
    const barred = result.barred ? "; barred from joining again" : "";
    this.log(`${what} ${result.member} from ${chalk.cyan(result.group)}${barred} (${result.members} left in it)`);
  }
}
