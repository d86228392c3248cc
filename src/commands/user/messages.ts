import { Flags } from "@oclif/core";
import { groupArg, shellWord } from "../../cli/flags.js";
import { UserCommand } from "../../cli/user-command.js";
import type { MessagesOptions } from "../../user/client.js";
import { formatFeedEvent, formatMessage, messageJson } from "../../user/format.js";
import { BEFORE_FORMS, historyOptions, olderArgs } from "../../user/history-options.js";
import { TIMESTAMP_FORMS } from "../../util/timestamp.js";

export default class Messages extends UserCommand<typeof Messages> {
  static override summary = "Show a group's messages, oldest first";
  static override description =
    "All messages, or those --since, --until and --before select (each narrows the others). --limit N shows the newest N of them; when older ones exist, a line on stderr gives the command that shows the next N back. " +
    `Messages not from today show their date. Times: ${TIMESTAMP_FORMS}. With --json, each message also has its time in ISO-8601 (UTC).`;
  static override examples = [
    "<%= config.bin %> user messages general",
    "<%= config.bin %> user messages general --since 10:30",
    "<%= config.bin %> user messages general --since 15m",
    "<%= config.bin %> user messages general --since 2026-11-25T10:30:00Z --json",
    "<%= config.bin %> user messages general --since 2026-11-24 --until 2026-11-25",
    "<%= config.bin %> user messages general --limit 20",
    "<%= config.bin %> user messages general --limit 20 --before '#1234'",
    "<%= config.bin %> user messages general --limit 50 --before 09:00",
    "<%= config.bin %> user messages general --follow --since 1h",
  ];
  static override args = { group: groupArg() };
  static override flags = {
    since: Flags.string({ char: "s", description: "only messages at or after this time" }),
    until: Flags.string({ description: "only messages before this time" }),
    before: Flags.string({ description: `only messages before this one: ${BEFORE_FORMS}` }),
    limit: Flags.integer({
      char: "n",
      description: "the newest N of the messages selected (then the next N back: --before, as the hint says)",
      min: 1,
    }),
    follow: Flags.boolean({
      char: "f",
      description: "then print new messages as they arrive, until Ctrl-C (with --json: one object per line)",
      exclusive: ["until", "before"],
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Messages);
    const options = historyOptions(flags);
    if (flags.follow) return this.follow(args.group, options);
    const { messages, older } = await (await this.connect()).history(args.group, options);
    if (this.flags.json) this.json(messages.map(messageJson));
    else {
      if (messages.length === 0) this.log("No messages.");
      for (const m of messages) this.log(formatMessage(m));
    }
    const oldest = messages[0];
    if (older && oldest !== undefined)
      this.logToStderr(`older messages: ${this.again(args.group, options, oldest.seq)}`);
  }

  /** This command again, for the page before message `oldest`, with the profile and server given. */
  private again(group: string, options: MessagesOptions, oldest: number): string {
    const words = [this.config.bin, "user", "messages", group, ...olderArgs(options, oldest)];
    if (this.flags.profile !== undefined) words.push("--profile", this.flags.profile);
    if (this.flags.server !== undefined) words.push("--server", this.flags.server);
    if (this.flags.json) words.push("--json");
    return words.map(shellWord).join(" ");
  }

  /** Prints history, then every new message once and in order, until SIGINT or SIGTERM. */
  private async follow(group: string, options: MessagesOptions): Promise<void> {
    const client = await this.connect(true);
    const { untilSignal } = await import("../../cli/signals.js");
    let end: (err: Error) => void = () => {};
    const ended = new Promise<never>((_, reject) => {
      end = reject;
    });
    const stopped = Promise.race([untilSignal(), ended]);
    const { since, limit } = options;
    await client.follow(group, {
      ...(since !== undefined && { since }),
      ...(limit !== undefined && { limit }),
      onMessage: (m) => this.log(this.flags.json ? JSON.stringify(messageJson(m)) : formatMessage(m)),
      onEvent: (event) => (event.type === "ended" ? end(event.reason) : this.logToStderr(formatFeedEvent(event))),
    });
    await stopped;
  }
}
