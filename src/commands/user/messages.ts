import { Args, Flags } from "@oclif/core";
import { UserCommand } from "../../cli/user-command.js";
import { UsageError } from "../../protocol/errors.js";
import { formatFeedEvent, formatMessage } from "../../user/format.js";
import { parseTimestamp, TIMESTAMP_FORMS } from "../../util/timestamp.js";

export default class Messages extends UserCommand<typeof Messages> {
  static override summary = "Show a group's messages, oldest first";
  static override description = [
    `Without --since, all messages (or the newest --limit). Timestamps: ${TIMESTAMP_FORMS}.`,
    "What is shown moves your read marker for the group forward to the newest message shown (never back);",
    "--unread shows only the messages after it, and `gm user groups` counts them.",
    "With --follow, several groups may be given, or --all (every group you are in, and those you join while it",
    "runs): each group's history, then new messages, prefixed by group (in JSON, with a `group` field), as",
    "`gm user follow` prints them.",
  ].join(" ");
  static override examples = [
    "<%= config.bin %> user messages general",
    "<%= config.bin %> user messages general --since 10:30",
    "<%= config.bin %> user messages general --since 15m",
    "<%= config.bin %> user messages general --since 2026-11-25T10:30:00Z --json",
    "<%= config.bin %> user messages general --limit 20",
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
    unread: Flags.boolean({
      char: "u",
      description: "only the messages after your read marker (those `gm user groups` counts as unread)",
    }),
    limit: Flags.integer({
      char: "n",
      description: "at most this many: the oldest from --since or --unread, else the newest",
      min: 1,
    }),
    follow: Flags.boolean({
      char: "f",
      description: "then print new messages as they arrive, until Ctrl-C (with --json: one object per line)",
    }),
    all: Flags.boolean({
      char: "a",
      description: "with --follow: every group you are in, and those you join while it runs",
    }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Messages);
    const groups = argv as string[];
    const since = flags.since === undefined ? undefined : parseTimestamp(flags.since);
    const group = groups[0];
    if (flags.all && group !== undefined) throw new UsageError("give groups or --all, not both");
    if (flags.all || groups.length > 1) return this.followSeveral(flags.all ? "all" : groups, since, flags.limit);
    if (group === undefined) throw new UsageError("missing the group: gm user messages <group> (or --all --follow)");
    const client = await this.connect(flags.follow);
    const after = flags.unread ? client.readMarker(group) : undefined;
    const from = {
      ...(since !== undefined && { since }),
      ...(after !== undefined && { after }),
      ...(flags.limit !== undefined && { limit: flags.limit }),
    };
    if (flags.follow) return this.follow(group, from);
    const messages = await client.messages(group, from);
    if (this.flags.json) this.json(messages);
    else {
      if (messages.length === 0) this.log(flags.unread ? "No unread messages." : "No messages.");
      for (const m of messages) this.log(formatMessage(m));
    }
    const newest = messages.at(-1);
    if (newest !== undefined) client.markRead(group, newest.seq);
  }

  /** Several groups, or every joined group: prefixed by group, until SIGINT or SIGTERM. */
  private async followSeveral(groups: string[] | "all", since?: number, limit?: number): Promise<void> {
    if (!this.flags.follow) {
      const what = groups === "all" ? "--all needs" : "several groups need";
      throw new UsageError(`${what} --follow; without it, give one group: gm user messages <group>`);
    }
    const client = await this.connect(true);
    const { followGroups } = await import("../../cli/follow.js");
    await followGroups(this, client, {
      groups,
      json: this.flags.json,
      ...(since !== undefined && { since }),
      ...(limit !== undefined && { limit }),
    });
  }

  /** Prints history, then every new message once and in order, until SIGINT or SIGTERM. */
  private async follow(group: string, from: { since?: number; after?: number; limit?: number }): Promise<void> {
    const client = await this.connect(true);
    const { untilSignal } = await import("../../cli/signals.js");
    let end: (err: Error) => void = () => {};
    const ended = new Promise<never>((_, reject) => {
      end = reject;
    });
    const stopped = Promise.race([untilSignal(), ended]);
    await client.follow(group, {
      ...from,
      onMessage: (m) => {
        this.log(this.flags.json ? JSON.stringify(m) : formatMessage(m));
        client.markRead(group, m.seq);
      },
      onEvent: (event) => (event.type === "ended" ? end(event.reason) : this.logToStderr(formatFeedEvent(event))),
    });
    await stopped;
  }
}
