import { Args, Flags } from "@oclif/core";
import { groupArg, shellWord } from "../../cli/flags.js";
import { UserCommand } from "../../cli/user-command.js";
import { type MessagesOptions, SEARCH_LIMIT } from "../../user/client.js";
import { formatMessage, messageJson } from "../../user/format.js";
import { BEFORE_FORMS, historyOptions, olderArgs } from "../../user/history-options.js";
import { TIMESTAMP_FORMS } from "../../util/timestamp.js";

export default class Search extends UserCommand<typeof Search> {
  static override summary = "Find a group's messages by their words, newest first";
  static override description =
    "Shows the messages that contain every word given, newest first, as `messages` shows them. A word matches whole words of a text, in any letter case and without regard to accents (cafe finds Café); a word with punctuation inside matches those parts in a row (e-mail finds E-Mail and e mail). " +
    'Nothing else in the words has a meaning: quotes, *, OR, NOT, NEAR( are searched as words. A word that starts with - goes after "--". ' +
    `At most ${SEARCH_LIMIT} matches unless --limit says otherwise; when older ones exist, a line on stderr gives the command that shows them. Members only. Times: ${TIMESTAMP_FORMS}.`;
  static override examples = [
    "<%= config.bin %> user search general lunch",
    "<%= config.bin %> user search general release notes --limit 5",
    "<%= config.bin %> user search general deploy --since 2d --json",
    "<%= config.bin %> user search general deploy --before '#1234'",
    "<%= config.bin %> user search general -- -rf",
  ];
  static override strict = false;
  static override args = {
    group: groupArg(),
    words: Args.string({ description: "the words to find (all of them; the remaining arguments)", required: true }),
  };
  static override flags = {
    limit: Flags.integer({
      char: "n",
      description: `at most this many, the newest [default: ${SEARCH_LIMIT}]`,
      min: 1,
    }),
    since: Flags.string({ char: "s", description: "only messages at or after this time" }),
    until: Flags.string({ description: "only messages before this time" }),
    before: Flags.string({ description: `only messages before this one: ${BEFORE_FORMS}` }),
  };

  async run(): Promise<void> {
    const { args, argv, flags } = await this.parse(Search);
    const query = (argv as string[]).slice(1).join(" ");
    const options = historyOptions(flags);
    const { messages, older } = await (await this.connect()).search(args.group, query, options);
    if (this.flags.json) this.json(messages.map(messageJson));
    else {
      if (messages.length === 0) this.log("No messages match.");
      for (const m of messages) this.log(formatMessage(m));
    }
    const oldest = messages.at(-1);
    if (older && oldest !== undefined)
      this.logToStderr(`older matches: ${this.again(args.group, (argv as string[]).slice(1), options, oldest.seq)}`);
  }

  /** This command again, for the matches before message `oldest`, with the profile and server given. */
  private again(group: string, words: string[], options: MessagesOptions, oldest: number): string {
    const line = [this.config.bin, "user", "search", group, ...olderArgs(options, oldest)];
    if (this.flags.profile !== undefined) line.push("--profile", this.flags.profile);
    if (this.flags.server !== undefined) line.push("--server", this.flags.server);
    if (this.flags.json) line.push("--json");
    return [...line, "--", ...words].map(shellWord).join(" ");
  }
}
