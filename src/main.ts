/**
 * The CLI's entry: every command, bundled with @oclif/core into one file by `npm run build`
 * (oclif's "explicit" command discovery), so that starting `gm` reads one module instead of a
 * few hundred. Commands still import ZeroMQ and SQLite lazily, from chunks of their own. The
 * plugins (help, version, autocomplete) are oclif's, loaded from their own manifests, and only
 * for a command line that can use them.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { flush, run as oclif } from "@oclif/core";
import { commandIdOf, isExit, reportFailure, wantsJson } from "./cli/errors.js";
import Group from "./commands/group.js";
import Server from "./commands/server.js";
import Status from "./commands/status.js";
import Up from "./commands/up.js";
import Follow from "./commands/user/follow.js";
import Groups from "./commands/user/groups.js";
import Invite from "./commands/user/invite.js";
import InviteOnly from "./commands/user/invite-only.js";
import Join from "./commands/user/join.js";
import Leave from "./commands/user/leave.js";
import ListGroups from "./commands/user/list-groups.js";
import Login from "./commands/user/login.js";
import Members from "./commands/user/members.js";
import Messages from "./commands/user/messages.js";
import Remove from "./commands/user/remove.js";
import Search from "./commands/user/search.js";
import Send from "./commands/user/send.js";
import ShellCommand from "./commands/user/shell.js";
import Unbar from "./commands/user/unbar.js";
import Whoami from "./commands/user/whoami.js";
import { gmHome } from "./util/config.js";

export { commandNotFound } from "./cli/not-found.js";

export const COMMANDS = {
  server: Server,
  group: Group,
  up: Up,
  status: Status,
  "user:follow": Follow,
  "user:groups": Groups,
  "user:invite": Invite,
  "user:invite-only": InviteOnly,
  "user:join": Join,
  "user:leave": Leave,
  "user:list-groups": ListGroups,
  "user:login": Login,
  "user:members": Members,
  "user:messages": Messages,
  "user:remove": Remove,
  "user:search": Search,
  "user:send": Send,
  "user:shell": ShellCommand,
  "user:unbar": Unbar,
  "user:whoami": Whoami,
};

/** oclif's plugins that gm uses: `gm help`, `gm version`, `gm autocomplete`. */
const PLUGINS = ["@oclif/plugin-help", "@oclif/plugin-version", "@oclif/plugin-autocomplete"];

/**
 * Whether `argv` can want the plugins: anything but one of gm's own commands (`gm user send`,
 * `gm group`, their help). Loading them costs each start-up a few file reads per plugin (15-50 ms
 * of a one-shot command's wall time on a busy machine, docs/PERFORMANCE.md), for nothing when
 * the command is gm's; the root help, a mistyped command and the plugins' commands get them.
 */
function wantsPlugins(argv: readonly string[]): boolean {
  const first = argv[0];
  return first === undefined || !Object.keys(COMMANDS).some((id) => id.split(":")[0] === first);
}

/**
 * Runs the CLI with the process's arguments. Whatever fails, oclif's usage errors and plugins'
 * included, is reported in gm's one style (src/cli/errors.ts) instead of oclif's.
 */
export async function run(): Promise<void> {
  // oclif's cache (the autocomplete scripts) lives with the rest of gm's files, under GM_HOME.
  process.env.GM_CACHE_DIR ||= join(gmHome(), "cache");
  const argv = process.argv.slice(2);
  try {
    await oclif(argv, {
      root: fileURLToPath(import.meta.url),
      // gm has no `plugins install`: no user's or development plugins to look for either.
      userPlugins: false,
      devPlugins: false,
      ...(wantsPlugins(argv) && { pluginAdditions: { core: PLUGINS } }),
    });
    await flush();
  } catch (err) {
    const id = commandIdOf(argv, Object.keys(COMMANDS));
    const code = isExit(err) ? err.oclif.exit : reportFailure(err, { json: wantsJson(argv) }, id);
    await flush();
    process.exit(code);
  }
}
