/**
 * The operator's view (`gm status`): the directory's groups, each asked by its own group server
 * whether it answers, how fast, and what it holds. Needs no membership: LIST, PING and INFO are
 * open to every key the servers accept.
 */
import chalk from "chalk";
import { RpcClient } from "../net/rpc-client.js";
import type { ClientSecurity } from "../net/security.js";
import {
  DirectoryCommand,
  ErrorCode,
  GmError,
  GroupCommand,
  type GroupEntry,
  type GroupInfo,
  LocalErrorCode,
} from "../protocol/index.js";
import type { Key, KeyPair } from "../protocol/keys.js";
import { printable } from "../util/printable.js";
import { formatTime } from "./format.js";

export interface StatusOptions {
  /** The directory's endpoint. */
  readonly server: string;
  /** Who asks (for the directory's log). */
  readonly user: string;
  /** CURVE: the user's keypair and the directory's key; group servers' keys come from LIST. */
  readonly security?: { readonly keys: KeyPair; readonly serverKey: Key };
  /** How long each request waits for its reply (one try each). */
  readonly timeoutMs: number;
}

export interface DirectoryStatus {
  readonly endpoint: string;
  /** The LIST round trip, ms (on a connection a PING opened first). */
  readonly rttMs: number;
  readonly groups: number;
}

/** One registered group as its server answered, or why it did not. */
export interface GroupStatus {
  readonly name: string;
  readonly id: string;
  readonly address: string;
  readonly answered: boolean;
  /** The INFO round trip, ms (on a connection a PING opened first). */
  readonly rttMs?: number;
  readonly members?: number;
  /** The last seq: the number of messages, but for the gaps of an accepted loss. */
  readonly messages?: number;
  /** When the last message was stored (UTC ms); null for none; absent from an older server. */
  readonly lastTs?: number | null;
  /** The group server's events endpoint; absent from an older server. */
  readonly events?: string;
  readonly owner?: string | null;
  /** Why it did not answer (its message came from the network: print it with printable()). */
  readonly error?: string;
  /** The error's code: TIMEOUT for no answer, else a wire or local code. */
  readonly code?: string;
}

export interface SystemStatus {
  /** When it was taken (UTC ms). */
  readonly at: number;
  readonly directory: DirectoryStatus;
  readonly groups: GroupStatus[];
  /** Whether every registered group answered. */
  readonly ok: boolean;
}

const ms = (t0: number) => Math.round((performance.now() - t0) * 10) / 10;

/**
 * Asks the directory for its groups, then every group server (all at once, one connection per
 * server) for each of its groups' INFO. Throws what the directory's failure was (a TimeoutError if
 * it did not answer); a group's failure is in its entry.
 */
export async function systemStatus(options: StatusOptions): Promise<SystemStatus> {
  const clients: RpcClient[] = [];
  const client = (endpoint: string, security: ClientSecurity | undefined) => {
    const c = new RpcClient(endpoint, { tries: 1, timeoutMs: options.timeoutMs, ...(security && { security }) });
    clients.push(c);
    return c;
  };
  try {
    const directory = client(options.server, options.security);
    const ping = await directory.request<{ role?: unknown }>(DirectoryCommand.Ping, {});
    if (ping.role !== "directory") {
      throw new GmError(
        ErrorCode.BadRequest,
        `${options.server} is not a message server (it answered PING as ${printable(String(ping.role))})`,
      );
    }
    const t0 = performance.now();
    const { groups } = await directory.request<{ groups: GroupEntry[] }>(DirectoryCommand.List, {
      user: options.user,
    });
    const rttMs = ms(t0);
    // One connection per group server (address and key), shared by the groups it hosts.
    const servers = new Map<string, GroupEntry[]>();
    for (const g of groups) {
      const at = `${g.address} ${g.key ?? ""}`;
      servers.set(at, [...(servers.get(at) ?? []), g]);
    }
    const asked = await Promise.all(
      [...servers.values()].map((entries) => askServer(entries, options, (e, s) => client(e, s))),
    );
    const byName = new Map(asked.flat().map((g) => [g.name, g]));
    const statuses = groups.map((g) => byName.get(g.name) as GroupStatus);
    return {
      at: Date.now(),
      directory: { endpoint: options.server, rttMs, groups: groups.length },
      groups: statuses,
      ok: statuses.every((g) => g.answered),
    };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

/** One group server's groups: a PING to open the connection, then every group's INFO, timed. */
async function askServer(
  entries: readonly GroupEntry[],
  options: StatusOptions,
  client: (endpoint: string, security: ClientSecurity | undefined) => RpcClient,
): Promise<GroupStatus[]> {
  const first = entries[0] as GroupEntry;
  const failed = (g: GroupEntry, err: unknown): GroupStatus => ({
    name: g.name,
    id: g.id,
    address: g.address,
    answered: false,
    error: err instanceof Error ? err.message : String(err),
    code: err instanceof GmError ? err.code : "ERROR",
  });
  let rpc: RpcClient;
  try {
    if (options.security !== undefined && first.key === undefined) {
      throw new GmError(
        ErrorCode.AuthRequired,
        `the directory gave no public key for ${first.address} (is it running with --insecure?)`,
      );
    }
    const security = options.security && first.key ? { keys: options.security.keys, serverKey: first.key } : undefined;
    rpc = client(first.address, security);
    await rpc.request(GroupCommand.Ping, {});
  } catch (err) {
    return entries.map((g) => failed(g, err));
  }
  return Promise.all(
    entries.map(async (g): Promise<GroupStatus> => {
      try {
        const t0 = performance.now();
        const info = await rpc.request<GroupInfo>(GroupCommand.Info, { group: g.name });
        const rttMs = ms(t0);
        return {
          name: g.name,
          id: g.id,
          address: g.address,
          answered: true,
          rttMs,
          members: info.members,
          messages: info.last,
          ...(info.lastTs !== undefined && { lastTs: info.lastTs }),
          ...(info.events !== undefined && { events: info.events }),
          owner: info.owner,
        };
      } catch (err) {
        return failed(g, err);
      }
    }),
  );
}

/** Whether a group's failure was silence (no reply in time) rather than a refusal. */
export const silent = (g: GroupStatus): boolean => g.code === LocalErrorCode.Timeout;

/** The status as a table: a line for the directory, one per group, and what failed. */
export function formatStatus(status: SystemStatus, now: number = Date.now()): string[] {
  const d = status.directory;
  const lines = [
    `${chalk.bold("message server")} ${printable(d.endpoint)}: answered in ${d.rttMs.toFixed(1)} ms, ${d.groups} group${
      d.groups === 1 ? "" : "s"
    } registered`,
  ];
  if (status.groups.length === 0) return lines;
  const rows = status.groups.map((g) => [
    printable(g.name),
    printable(g.address),
    g.answered ? "ok" : silent(g) ? "NO ANSWER" : "ERROR",
    g.rttMs === undefined ? "-" : `${g.rttMs.toFixed(1)} ms`,
    g.members === undefined ? "-" : String(g.members),
    g.messages === undefined ? "-" : String(g.messages),
    g.lastTs === undefined || g.lastTs === null ? "-" : formatTime(g.lastTs, now),
    g.events === undefined ? "-" : printable(g.events),
  ]);
  const head = ["GROUP", "SERVER", "STATE", "RTT", "MEMBERS", "MESSAGES", "LAST MESSAGE", "EVENTS"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const right = new Set([3, 4, 5]);
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (right.has(i) ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number)))
      .join("  ")
      .trimEnd();
  lines.push(chalk.bold(line(head)));
  status.groups.forEach((g, i) => {
    const text = line(rows[i] as string[]);
    lines.push(g.answered ? text : chalk.red(text));
  });
  const down = status.groups.filter((g) => !g.answered);
  for (const g of down) lines.push(chalk.red(`${printable(g.name)}: ${printable(g.error ?? "no answer")}`));
  return lines;
}

/** One line naming the groups that did not answer, for stderr (empty when all did). */
export function statusFailure(status: SystemStatus): string | undefined {
  const down = status.groups.filter((g) => !g.answered);
  if (down.length === 0) return undefined;
  const names = down.map((g) => `${printable(g.name)} (${printable(g.address)})`).join(", ");
  return `${down.length} of ${status.groups.length} registered groups did not answer: ${names}`;
}
