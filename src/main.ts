/**
 * The CLI's entry: every command, bundled with @oclif/core into one file by `npm run build`
 * (oclif's "explicit" command discovery), so that starting `gm` reads one module instead of a
 * few hundred. Commands still import ZeroMQ and SQLite lazily, from chunks of their own.
 */
import { execute } from "@oclif/core";
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

/** Runs the CLI with the process's arguments. */
export function run(): Promise<unknown> {
  return execute({ dir: import.meta.url });
}
