import { groupArg } from "../../cli/flags.js";
import { UserCommand } from "../../cli/user-command.js";
import { formatMembers, membersList } from "../../user/format.js";

export default class Members extends UserCommand<typeof Members> {
  static override summary = "List a group's members and who is online now";
  static override description = [
    "Shows each member's display name, fingerprint and join time, whether they are online (their gm",
    "follows the group: `messages --follow` or the shell, within the last 10 s), and marks the owner.",
    "Only members (and the owner) may list a group's members; others get NOT_MEMBER.",
  ].join(" ");
  static override examples = [
    "<%= config.bin %> user members general",
    "<%= config.bin %> user members general --json",
  ];
  static override args = { group: groupArg() };

  async run(): Promise<void> {
    const { args } = await this.parse(Members);
    const client = await this.connect();
    const view = await client.members(args.group);
    if (this.flags.json) return this.json(membersList(view, client.user));
    for (const line of formatMembers(view, client.user)) this.log(line);
  }
}
