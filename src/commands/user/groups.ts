import { UserCommand } from "../../cli/user-command.js";
import { formatJoined } from "../../user/format.js";

export default class Groups extends UserCommand<typeof Groups> {
  static override summary = "Show the groups you have joined";
  static override description = "Reads your profile; contacts no server.";
  static override examples = ["<%= config.bin %> user groups"];

  async run(): Promise<void> {
    const groups = this.profile().joined();
    if (this.flags.json) return this.json(groups);
    for (const line of formatJoined(groups)) this.log(line);
  }
}
