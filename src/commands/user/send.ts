import { Args } from "@oclif/core";
import chalk from "chalk";
import { groupArg } from "../../cli/flags.js";
import { UserCommand } from "../../cli/user-command.js";
import { formatTime } from "../../user/format.js";
import { printable } from "../../util/printable.js";

export default class Send extends UserCommand<typeof Send> {
  static override summary = "Send a message to a group you have joined";
  static override description =
    "Returns once the group server has stored the message on disk. The words of the message may be quoted or not; at most 64 KiB of UTF-8.";
  static override examples = [
    '<%= config.bin %> user send general "hello everyone"',
    "<%= config.bin %> user send general hello everyone",
    "<%= config.bin %> user send general -- -x marks the spot   # after --, a word may start with -",
  ];
  static override args = {
    group: groupArg(),
    // Variadic: the words after the group, joined by spaces (after `--` a word may start with "-").
    message: Args.string({ description: "the message (the remaining words)", required: true, multiple: true }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(Send);
    const text = args.message.join(" ");
    const result = await (await this.connect()).send(args.group, text);
    if (this.flags.json) return this.json(result);
    const note = result.duplicate ? " (already stored)" : "";
    this.log(`Sent to ${chalk.cyan(printable(result.group))} as #${result.seq} at ${formatTime(result.ts)}${note}`);
  }
}
