import { UserCommand } from "../../cli/user-command.js";
import { UsageError } from "../../protocol/errors.js";

export default class ShellCommand extends UserCommand<typeof ShellCommand> {
  static override summary = "Interactive mode: the original commands at a prompt";
  static override description = [
    "Commands: list_groups, join_group <g>, show_groups, leave_group <g>, get_messages <g> [<timestamp>], send_message <g> <message>, help [<command>], exit. Arguments may be quoted.",
    "At a terminal, Tab completes commands and group names; Ctrl-C clears the line, or cancels a command that waits for a server; Ctrl-D, or Ctrl-C twice on an empty line, leaves.",
    "Without a terminal, commands are read from stdin one per line. The shell prints text, not JSON: --json is refused (the one-shot commands take it).",
  ].join("\n\n");
  static override examples = ["<%= config.bin %> user shell", "echo list_groups | <%= config.bin %> user shell"];

  async run(): Promise<void> {
    if (this.flags.json) {
      // A shell's lines are for a person; a script gets JSON from the one-shot commands.
      throw new UsageError(
        "the shell has no JSON output; use the one-shot commands with --json (gm user messages <group> --json, …)",
      );
    }
    const client = await this.connect(true);
    // A new --display-name reaches the joined groups now, not when the shell ends.
    void this.spreadName().catch(() => {});
    const { Shell } = await import("../../user/shell.js");
    const shell = new Shell(client, {
      input: process.stdin,
      output: process.stdout,
      interactive: process.stdin.isTTY === true,
    });
    await shell.run();
    if (!process.stdin.isTTY && shell.failures > 0) this.exit(1);
  }
}
