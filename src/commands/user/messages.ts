import { Flags } from "@oclif/core";
import { groupArg } from "../../cli/flags.js";
import { UserCommand } from "../../cli/user-command.js";
import { formatFeedEvent, formatMessage } from "../../user/format.js";
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
    "<%= config.bin %> user messages general --follow --since 1h",
  ];
  static override args = { group: groupArg() };
  static override flags = {
    since: Flags.string({ char: "s", description: "only messages at or after this time" }),
    limit: Flags.integer({
      char: "n",
      description: "at most this many: the oldest from --since, else the newest",
      min: 1,
    }),
    follow: Flags.boolean({
      char: "f",
      description: "then print new messages as they arrive, until Ctrl-C (with --json: one object per line)",
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Messages);
    const since = flags.since === undefined ? undefined : parseTimestamp(flags.since);
    if (flags.follow) return this.follow(args.group, since, flags.limit);
    const messages = await (await this.connect()).messages(args.group, {
      ...(since !== undefined && { since }),
      ...(flags.limit !== undefined && { limit: flags.limit }),
    });
    if (this.flags.json) return this.json(messages);
    if (messages.length === 0) this.log("No messages.");
    for (const m of messages) this.log(formatMessage(m));
  }

  /** Prints history, then every new message once and in order, until SIGINT or SIGTERM. */
  private async follow(group: string, since: number | undefined, limit: number | undefined): Promise<void> {
    const client = await this.connect(true);
    const { untilSignal } = await import("../../cli/signals.js");
    let end: (err: Error) => void = () => {};
    const ended = new Promise<never>((_, reject) => {
      end = reject;
    });
    const stopped = Promise.race([untilSignal(), ended]);
    await client.follow(group, {
      ...(since !== undefined && { since }),
      ...(limit !== undefined && { limit }),
      onMessage: (m) => this.log(this.flags.json ? JSON.stringify(m) : formatMessage(m)),
      onEvent: (event) => (event.type === "ended" ? end(event.reason) : this.logToStderr(formatFeedEvent(event))),
    });
    await stopped;
  }
}
