import { Args, Flags } from "@oclif/core";
import { UserCommand } from "../../cli/user-command.js";
import { formatMessage } from "../../user/format.js";
import { parseTimestamp, TIMESTAMP_FORMS } from "../../util/timestamp.js";

export default class Messages extends UserCommand<typeof Messages> {
  static override summary = "Show a group's messages, oldest first";
  static override description =
    `Without --since, all messages (or the newest --limit). Timestamps: ${TIMESTAMP_FORMS}.`;
  static override examples = [
    "<%= config.bin %> user messages general",
    "<%= config.bin %> user messages general --since 10:30",
    "<%= config.bin %> user messages general --since 15m",
    "<%= config.bin %> user messages general --since 2026-11-25T10:30:00Z --json",
    "<%= config.bin %> user messages general --limit 20",
  ];
  static override args = { group: Args.string({ description: "group name", required: true }) };
  static override flags = {
    since: Flags.string({ char: "s", description: "only messages at or after this time" }),
    limit: Flags.integer({
      char: "n",
      description: "at most this many: the oldest from --since, else the newest",
      min: 1,
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Messages);
    const since = flags.since === undefined ? undefined : parseTimestamp(flags.since);
    const messages = await (await this.connect()).messages(args.group, {
      ...(since !== undefined && { since }),
      ...(flags.limit !== undefined && { limit: flags.limit }),
    });
    if (this.flags.json) return this.json(messages);
    if (messages.length === 0) this.log("No messages.");
    for (const m of messages) this.log(formatMessage(m));
  }
}
