import { Args, Flags } from "@oclif/core";
import { shellWord } from "../../cli/flags.js";
import { UserCommand } from "../../cli/user-command.js";
import { UsageError } from "../../protocol/errors.js";
import type { MessagesOptions } from "../../user/client.js";
import { formatFeedEvent, formatMessage, messageJson } from "../../user/format.js";
import { BEFORE_FORMS, historyOptions, olderArgs } from "../../user/history-options.js";
import { printableJson } from "../../util/printable.js";
import { TIMESTAMP_FORMS } from "../../util/timestamp.js";

export default class Messages extends UserCommand<typeof Messages> {
  static override summary = "Show a group's messages, oldest first";
  static override description = [
    "All messages, or those --since, --until and --before select (each narrows the others). --limit N shows the newest N of them; when older ones exist, a line on stderr gives the command that shows the next N back.",
    `Messages not from today show their date. Times: ${TIMESTAMP_FORMS}. With --json, each message also has its time in ISO-8601 (UTC).`,
    "What is shown moves your read marker for the group forward to the newest message shown (never back);",
    "--unread shows only the messages after it (with --limit, the oldest N of them), and `gm user groups` counts them.",
    "With --follow, several groups may be given, or --all (every group you are in, and those you join while it",
    "runs): each group's history, then new messages, prefixed by group (in JSON, with a `group` field), as",
    "`gm user follow` prints them.",
  ].join(" ");
  static override examples = [
    "<%= config.bin %> user messages general",
    "<%= config.bin %> user messages general --since 10:30",
    "<%= config.bin %> user messages general --since 15m",
    "<%= config.bin %> user messages general --since 2026-11-25T10:30:00Z --json",
    "<%= config.bin %> user messages general --since 2026-11-24 --until 2026-11-25",
    "<%= config.bin %> user messages general --limit 20",
    "<%= config.bin %> user messages general --limit 20 --before '#1234'",
    "<%= config.bin %> user messages general --limit 50 --before 09:00",
    "<%= config.bin %> user messages general --unread             # what you have not seen yet",
    "<%= config.bin %> user messages general --unread --limit 50  # the oldest 50 of them; again for more",
    "<%= config.bin %> user messages general --follow --since 1h",
    "<%= config.bin %> user messages general random --follow --limit 5",
    "<%= config.bin %> user messages --all --follow --since 10m --json",
  ];
  static override strict = false;
  static override args = {
    group: Args.string({ description: "group name (with --follow, several may be given)" }),
  };
  static override flags = {
    since: Flags.string({ char: "s", description: "only messages at or after this time", exclusive: ["unread"] }),
    until: Flags.string({ description: "only messages before this time" }),
    before: Flags.string({ description: `only messages before this one: ${BEFORE_FORMS}`, exclusive: ["unread"] }),
    unread: Flags.boolean({
      char: "u",
      description: "only the messages after your read marker (those `gm user groups` counts as unread)",
    }),
    limit: Flags.integer({
      char: "n",
      description:
        "the newest N of the messages selected (then the next N back: --before, as the hint says); with --unread, the oldest N",
      min: 1,
    }),
    follow: Flags.boolean({
      char: "f",
      description: "then print new messages as they arrive, until Ctrl-C (with --json: one object per line)",
      exclusive: ["until", "before"],
    }),
    all: Flags.boolean({
      char: "a",
      description: "with --follow: every group you are in, and those you join while it runs",
    }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Messages);
    const groups = argv as string[];
    const options = historyOptions(flags);
    const group = groups[0];
    if (flags.all && group !== undefined) throw new UsageError("give groups or --all, not both");
    if (flags.all || groups.length > 1) return this.followSeveral(flags.all ? "all" : groups, options);
    if (group === undefined) throw new UsageError("missing the group: gm user messages <group> (or --all --follow)");
    const client = await this.connect(flags.follow);
    const after = flags.unread ? client.readMarker(group) : undefined;
    const from = { ...options, ...(after !== undefined && { after }) };
    if (flags.follow) return this.follow(group, from);
    const { messages, older } = await client.history(group, from);
    if (this.flags.json) this.json(messages.map(messageJson));
    else {
      if (messages.length === 0) this.log(flags.unread ? "No unread messages." : "No messages.");
      for (const m of messages) this.log(formatMessage(m));
    }
    const newest = messages.at(-1);
    if (newest !== undefined) client.markRead(group, newest.seq);
    const oldest = messages[0];
    if (older && oldest !== undefined) this.logToStderr(`older messages: ${this.again(group, options, oldest.seq)}`);
  }

  /** This command again, for the page before message `oldest`, with the profile and server given. */
  private again(group: string, options: MessagesOptions, oldest: number): string {
    const words = [this.config.bin, "user", "messages", group, ...olderArgs(options, oldest)];
    if (this.flags.profile !== undefined) words.push("--profile", this.flags.profile);
    if (this.flags.server !== undefined) words.push("--server", this.flags.server);
    if (this.flags.json) words.push("--json");
    return words.map(shellWord).join(" ");
  }

  /** Several groups, or every joined group: prefixed by group, until SIGINT or SIGTERM. */
  private async followSeveral(groups: string[] | "all", options: MessagesOptions): Promise<void> {
    if (!this.flags.follow) {
      const what = groups === "all" ? "--all needs" : "several groups need";
      throw new UsageError(`${what} --follow; without it, give one group: gm user messages <group>`);
    }
    const client = await this.connect(true);
    const { followGroups } = await import("../../cli/follow.js");
    const { since, limit } = options;
    await followGroups(this, client, {
      groups,
      json: this.flags.json,
      ...(since !== undefined && { since }),
      ...(limit !== undefined && { limit }),
    });
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
    const { since, after, limit } = options;
    await client.follow(group, {
      ...(since !== undefined && { since }),
      ...(after !== undefined && { after }),
      ...(limit !== undefined && { limit }),
      onMessage: (m) => {
        this.log(this.flags.json ? printableJson(messageJson(m)) : formatMessage(m));
        client.markRead(group, m.seq);
      },
      onEvent: (event) => (event.type === "ended" ? end(event.reason) : this.logToStderr(formatFeedEvent(event))),
    });
    await stopped;
  }
}
