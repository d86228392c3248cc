import chalk from "chalk";
import { ErrorCode } from "../protocol/constants.js";
import { GmError } from "../protocol/errors.js";
import { fingerprintOf } from "../protocol/keys.js";
import type { GroupEntry, MemberEntry, StoredMessage } from "../protocol/types.js";
import { printable } from "../util/printable.js";
import type { FeedEvent } from "./feed.js";

const pad = (n: number) => String(n).padStart(2, "0");

/** `HH:MM:SS` for today, `YYYY-MM-DD HH:MM:SS` otherwise, in local time. */
export function formatTime(ts: number, now: number = Date.now()): string {
  const d = new Date(ts);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (d.toDateString() === new Date(now).toDateString()) return time;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

/** Where the lines after the first of a message start: indented, so none passes for a message. */
const CONTINUATION = "    ";

/**
 * One message as `[time] name (fingerprint): text`; live messages in the shell also name their
 * group. The fingerprint (the first 8 hex digits of the sender's user id, which is their key's)
 * tells apart two senders with one display name; display names cannot contain one (validate.ts).
 * What came from the network is made printable: control characters show as escapes, and the
 * lines of a text that has several are indented.
 */
export function formatMessage(m: StoredMessage, now?: number, group?: string): string {
  const where = group === undefined ? "" : ` ${chalk.magenta(`#${printable(group)}`)}`;
  const text = printable(m.text, CONTINUATION);
  const who = `${chalk.bold.cyan(printable(m.name))} ${chalk.dim(`(${printable(fingerprintOf(m.user))})`)}`;
  return `${chalk.dim(`[${formatTime(m.ts, now)}]`)}${where} ${who}: ${text}`;
}

/**
 * A message as `--json` prints it: the wire's object (seq, ts in UTC ms, id, user, name, text,
 * exactly as sent) and `time`, its ts in ISO-8601 (UTC), for readers and tools that want a date
 * (null for a ts no date can hold, which only a broken server sends).
 */
export function messageJson(m: StoredMessage): StoredMessage & { time: string | null } {
  const date = new Date(m.ts);
  return { ...m, time: Number.isNaN(date.getTime()) ? null : date.toISOString() };
}

/** The directory's groups as an aligned table. */
export function formatGroups(groups: readonly GroupEntry[]): string[] {
  if (groups.length === 0) return [chalk.yellow("No groups are registered.")];
  const rows = groups.map((g) => ({ name: printable(g.name), members: g.members, address: printable(g.address) }));
  const width = Math.max(5, ...rows.map((g) => g.name.length));
  return [
    chalk.bold(`${"GROUP".padEnd(width)}  MEMBERS  ADDRESS`),
    ...rows.map((g) => `${chalk.cyan(g.name.padEnd(width))}  ${String(g.members).padStart(7)}  ${g.address}`),
  ];
}

/** A group's members as MEMBERS lists them, for one viewer. */
export interface MembersView {
  readonly group: string;
  readonly count: number;
  readonly owner: string | null;
  /** How recent a SUBSCRIBE makes a member online, ms. */
  readonly window: number;
  readonly members: readonly MemberEntry[];
}

/**
 * The members as `gm user members` and the shell's `show_members` give them, for JSON: oldest
 * member first, each with their fingerprint, and the owner and the viewer (`you`) marked.
 */
export function membersList(view: MembersView, you: string) {
  const members = [...view.members]
    .sort((a, b) => a.joined - b.joined || (a.user < b.user ? -1 : 1))
    .map((m) => ({
      name: m.name,
      fingerprint: fingerprintOf(m.user),
      user: m.user,
      joined: m.joined,
      online: m.online,
      seen: m.seen,
      owner: m.user === view.owner,
      you: m.user === you,
    }));
  const online = members.filter((m) => m.online).length;
  const ownerIsMember = members.some((m) => m.owner);
  return {
    group: view.group,
    count: view.count,
    online,
    window: view.window,
    owner: view.owner,
    ownerIsMember,
    members,
  };
}

/** The members as an aligned table, then a line of totals; names and times made printable. */
export function formatMembers(view: MembersView, you: string, now: number = Date.now()): string[] {
  const list = membersList(view, you);
  const rows = list.members.map((m) => ({
    name: printable(m.name),
    fingerprint: fingerprintOf(m.user),
    joined: formatTime(m.joined, now),
    status: m.online ? "online" : m.seen === null ? "offline" : `offline (seen ${formatTime(m.seen, now)})`,
    online: m.online,
    role: [m.owner ? "owner" : "", m.you ? "you" : ""].filter((r) => r !== "").join(", "),
  }));
  const width = (key: "name" | "joined" | "status", head: string) =>
    Math.max(head.length, ...rows.map((r) => r[key].length));
  const [wName, wJoined, wStatus] = [width("name", "NAME"), width("joined", "JOINED"), width("status", "STATUS")];
  const lines = [
    chalk.bold(`${"NAME".padEnd(wName)}  FINGERPRINT  ${"JOINED".padEnd(wJoined)}  ${"STATUS".padEnd(wStatus)}  ROLE`),
    ...rows.map((r) =>
      `${chalk.cyan(r.name.padEnd(wName))}  ${chalk.dim(r.fingerprint.padEnd(11))}  ${r.joined.padEnd(wJoined)}  ${(r.online
        ? chalk.green
        : chalk.dim)(r.status.padEnd(wStatus))}  ${r.role}`.trimEnd(),
    ),
  ];
  const seconds = Math.round(list.window / 1000);
  lines.push(
    `${list.count} member${list.count === 1 ? "" : "s"} of ${chalk.cyan(printable(list.group))}, ${list.online} online (following it within the last ${seconds} s)`,
  );
  if (list.owner !== null && !list.ownerIsMember) lines.push(`owner: ${fingerprintOf(list.owner)} (not a member)`);
  return lines;
}

/**
 * The profile's joined groups; with `unread` (group → count, undefined: its server did not
 * answer), an UNREAD column, `?` where the count is unknown.
 */
export function formatJoined(
  groups: ReadonlyArray<{ name: string; address: string; joined: number }>,
  unread?: ReadonlyMap<string, number | undefined>,
): string[] {
  if (groups.length === 0) return [chalk.yellow("You have not joined any group.")];
  const width = Math.max(5, ...groups.map((g) => printable(g.name).length));
  const count = (name: string): string => {
    if (unread === undefined) return "";
    const n = unread.get(name);
    const text = (n === undefined ? "?" : String(n)).padStart(6);
    return `  ${n === undefined ? chalk.yellow(text) : n > 0 ? chalk.bold(text) : chalk.dim(text)}`;
  };
  return [
    chalk.bold(`${"GROUP".padEnd(width)}${unread === undefined ? "" : "  UNREAD"}  JOINED               ADDRESS`),
    ...groups.map(
      (g) =>
        `${chalk.cyan(printable(g.name).padEnd(width))}${count(g.name)}  ${formatTime(g.joined, 0).padEnd(19)}  ${printable(g.address)}`,
    ),
  ];
}

/**
 * The shell's line at start: `unread: general 3, random 12` (groups with something unread), then
 * the groups whose servers did not answer; `no unread messages` when every group answered with none.
 */
export function formatUnreadSummary(counts: ReadonlyArray<{ group: string; unread: number | undefined }>): string {
  const some = counts.filter((c) => c.unread !== undefined && c.unread > 0);
  const unknown = counts.filter((c) => c.unread === undefined);
  const parts: string[] = [];
  if (some.length > 0) parts.push(`unread: ${some.map((c) => `${printable(c.group)} ${c.unread}`).join(", ")}`);
  else parts.push("no unread messages");
  if (unknown.length > 0) {
    parts.push(`no answer from ${unknown.map((c) => printable(c.group)).join(", ")}`);
  }
  return parts.join("; ");
}

/** What a live feed reports besides messages, as one line (the shell and `messages --follow`). */
export function formatFeedEvent(event: FeedEvent): string {
  return printable(feedEventLine(event));
}

function feedEventLine(event: FeedEvent): string {
  switch (event.type) {
    case "unconfirmed":
      return `no live messages from ${event.events} yet (can this machine reach that port?); checking for new ones every few seconds`;
    case "lost":
      return `lost "${event.group}": ${event.error.message}; retrying`;
    case "restored":
      return `back in touch with "${event.group}"`;
    case "ended":
      return `stopped following "${event.group}": ${event.reason.message}`;
  }
}

/** What gm says about an invite by fingerprint (PROTOCOL.md §6.3), in the CLI and the shell. */
export const FINGERPRINT_INVITE_WARNING =
  "a fingerprint invite lets in the first key whose id starts with it, and such a key can be made; invite by public key where it matters";

/**
 * What the CLI says about a failure of command `commandId` (e.g. "user:send"): the error's own
 * message, except for a `300 STORAGE_FULL` that outlasted every try (the client waited 1 s, then
 * 2 s), which says in words what it means for the user, then what the server said (it names the
 * group's file).
 */
export function failureText(err: unknown, commandId?: string): string {
  if (err instanceof GmError && err.code === ErrorCode.StorageFull) {
    const lost = commandId === "user:send" ? "the message was not stored" : "nothing was changed";
    return `the group server's disk is full: ${lost}; try again once it has room (the server said: ${err.message})`;
  }
  return err instanceof Error ? err.message : String(err);
}
