import { UserCommand } from "../../cli/user-command.js";
import { formatJoined } from "../../user/format.js";

export default class Groups extends UserCommand<typeof Groups> {
  static override summary = "Show the groups you have joined, with how many messages you have not seen";
  static override description = [
    "Reads your profile, then asks every group's server at once for its last message (INFO, one try of",
    "1 s each). UNREAD counts the messages after your read marker, which moves when messages are shown to",
    "you (`messages`, `messages --unread`, the shell). A server that does not answer in time shows `?`:",
    "the command still succeeds (exit 0), since the list itself comes from your profile.",
  ].join(" ");
  static override examples = [
    "<%= config.bin %> user groups",
    "<%= config.bin %> user groups --json   # unread is null where the server did not answer",
  ];

  async run(): Promise<void> {
    const groups = this.profile().joined();
    const counts = groups.length === 0 ? [] : await (await this.connect(false, { directory: false })).unread();
    const unread = new Map(counts.map((c) => [c.group, c.unread]));
    if (this.flags.json) {
      const last = new Map(counts.map((c) => [c.group, c.last]));
      return this.json(
        groups.map((g) => ({
          ...g,
          read: g.read ?? 0,
          last: last.get(g.name) ?? null,
          unread: unread.get(g.name) ?? null,
        })),
      );
    }
    for (const line of formatJoined(groups, unread)) this.log(line);
    if (counts.some((c) => c.unread === undefined)) {
      this.logToStderr("?: the group's server did not answer within 1 s (it may be stopped or unreachable)");
    }
  }
}
