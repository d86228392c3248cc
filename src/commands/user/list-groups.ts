import { UserCommand } from "../../cli/user-command.js";
import { formatGroups } from "../../user/format.js";

export default class ListGroups extends UserCommand<typeof ListGroups> {
  static override summary = "List the groups registered with the message server";
  static override description = [
    "Asks the directory for every live group: its name, member count and endpoint.",
    "With --json, an array of objects: name, id, address, members, key (the group server's public key;",
    "absent when insecure) and ageMs, the milliseconds since the group server last refreshed its",
    "registration (`age` is the same number, under its name on the wire).",
  ].join(" ");
  static override examples = ["<%= config.bin %> user list-groups", "<%= config.bin %> user list-groups --json"];

  async run(): Promise<void> {
    const groups = await (await this.connect()).listGroups();
    if (this.flags.json) return this.json(groups.map((g) => ({ ...g, ageMs: g.age })));
    for (const line of formatGroups(groups)) this.log(line);
  }
}
