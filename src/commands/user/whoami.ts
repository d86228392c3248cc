import { UserCommand } from "../../cli/user-command.js";
import { DEFAULT_SERVER, gmHome } from "../../util/config.js";

export default class Whoami extends UserCommand<typeof Whoami> {
  static override summary = "Show your profile: uuid, display name, server";
  static override examples = ["<%= config.bin %> user whoami", "<%= config.bin %> user whoami --display-name Alice"];

  async run(): Promise<void> {
    const profile = this.profile();
    const info = {
      profile: profile.profile,
      uuid: profile.data.uuid,
      name: profile.data.name,
      server: this.flags.server ?? process.env.GM_SERVER ?? profile.data.server ?? DEFAULT_SERVER,
      groups: Object.keys(profile.data.groups).sort(),
      file: profile.file,
      home: gmHome(),
    };
    if (this.flags.json) return this.json(info);
    this.log(`profile  ${info.profile}`);
    this.log(`uuid     ${info.uuid}`);
    this.log(`name     ${info.name}`);
    this.log(`server   ${info.server}`);
    this.log(`groups   ${info.groups.join(", ") || "(none)"}`);
    this.log(`file     ${info.file}`);
  }
}
