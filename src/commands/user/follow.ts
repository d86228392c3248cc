import { Args } from "@oclif/core";
import { UserCommand } from "../../cli/user-command.js";

export default class Follow extends UserCommand<typeof Follow> {
  static override summary = "Print new messages of all your groups as they arrive, like tail -f";
  static override description = [
    "Every new message of every group you are in, prefixed by its group, until Ctrl-C (exit 0);",
    "also the groups you join, or leave, from another terminal while it runs. Name groups to follow only those",
    "(it exits 1 once all of them are left). With --json, one object per line, with a `group` field.",
    "Notes (a group server lost and found again, a group left) go to stderr.",
  ].join(" ");
  static override examples = [
    "<%= config.bin %> user follow",
    "<%= config.bin %> user follow general random",
    "<%= config.bin %> user follow --json",
    "<%= config.bin %> user follow --profile bob",
  ];
  static override strict = false;
  static override args = {
    group: Args.string({ description: "a group to follow (several may be given) [default: every group you are in]" }),
  };

  async run(): Promise<void> {
    const { argv } = await this.parse(Follow);
    const groups = argv as string[];
    const client = await this.connect(true);
    const { followGroups } = await import("../../cli/follow.js");
    // From now: what was sent since it started, then what comes (`messages --follow` shows history).
    const since = Date.now();
    await followGroups(this, client, { groups: groups.length === 0 ? "all" : groups, since, json: this.flags.json });
  }
}
