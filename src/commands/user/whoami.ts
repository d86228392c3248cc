import { UserCommand } from "../../cli/user-command.js";
import { fingerprintOf } from "../../protocol/keys.js";
import { gmHome } from "../../util/config.js";
import { printable } from "../../util/printable.js";

export default class Whoami extends UserCommand<typeof Whoami> {
  static override summary = "Show your profile: fingerprint, public key, uuid, display name, server";
  static override description = [
    "You are your key: its fingerprint is shown beside your name in every message, and the public key is what a",
    "group owner invites. The secret half is in the key file, readable by you alone; back it up to keep this",
    "identity. The server line says which message server commands use and why (--server, GM_SERVER, the",
    "profile's from `gm user login`, or the default). With --display-name the new name is carried to every group",
    "you have joined at once; a group that cannot be reached gets it with your next message there.",
  ].join(" ");
  static override examples = [
    "<%= config.bin %> user whoami",
    "<%= config.bin %> user whoami --display-name Alice",
    "<%= config.bin %> user whoami --json",
  ];

  async run(): Promise<void> {
    const profile = this.profile();
    const server = this.server();
    const info = {
      profile: profile.profile,
      fingerprint: fingerprintOf(profile.data.uuid),
      key: profile.keys.publicKey,
      uuid: profile.data.uuid,
      name: profile.data.name,
      server: server.endpoint,
      serverSource: server.source,
      serverKeys: profile.data.serverKeys ?? {},
      groups: Object.keys(profile.data.groups).sort(),
      file: profile.file,
      keyFile: profile.file.replace(/\.json$/, ".key"),
      home: gmHome(),
    };
    if (this.flags.json) return this.json(info);
    this.log(`profile      ${info.profile}`);
    this.log(`fingerprint  ${info.fingerprint}`);
    this.log(`public key   ${info.key}  (give it to a group's owner for an invite)`);
    this.log(`uuid         ${info.uuid}`);
    this.log(`name         ${printable(info.name)}`);
    const why = {
      argument: "given",
      "--server": "--server",
      GM_SERVER: "GM_SERVER",
      profile: "the profile's",
      default: "the default",
    };
    this.log(`server       ${printable(info.server)}  (${why[info.serverSource]})`);
    const pinned = info.serverKeys[info.server];
    this.log(
      `server key   ${pinned === undefined ? "(none pinned: given by flag, GM_SERVER_KEY or the local server)" : pinned}`,
    );
    this.log(`groups       ${info.groups.map((g) => printable(g)).join(", ") || "(none)"}`);
    this.log(`file         ${info.file}`);
    this.log(`key file     ${info.keyFile}`);
  }
}
