/**
 * Who is in a group and who is following it now (PROTOCOL.md §MEMBERS): the presence a group
 * server keeps in memory, and the pages of the MEMBERS reply.
 */
import { Limits, type MemberEntry, ONLINE_WINDOW_MS } from "../protocol/index.js";
import type { Member } from "../store/types.js";

/**
 * When each member last followed each group (sent SUBSCRIBE), on the monotonic clock, so a wall
 * clock set back or ahead neither keeps a gone follower online nor drops a live one. Soft state:
 * not stored, lost at a restart and rebuilt within one refresh period as followers SUBSCRIBE
 * again. Only members are recorded, LEAVE and REMOVE forget theirs, and a SUBSCRIBE that finds
 * more entries than members sweeps out the rest (a claim, a write undone), so a group holds at most
 * as many entries as it had members at its latest SUBSCRIBE.
 */
export class Presence {
  private readonly groups = new Map<string, Map<string, number>>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** `user`, a member of `group` (whose members are `members`), sent SUBSCRIBE just now. */
  followed(group: string, user: string, members: ReadonlyMap<string, Member>): void {
    let seen = this.groups.get(group);
    if (seen === undefined) {
      seen = new Map();
      this.groups.set(group, seen);
    }
    seen.delete(user); // re-inserted last: the map stays in the order of the latest SUBSCRIBE
    seen.set(user, this.now());
    if (seen.size > members.size) {
      for (const u of seen.keys()) if (!members.has(u)) seen.delete(u);
    }
  }

  /** `user` is no longer a member of `group`. */
  forget(group: string, user: string): void {
    this.groups.get(group)?.delete(user);
  }

  /** Milliseconds since `user` last followed `group`, or undefined if not since the server started. */
  age(group: string, user: string): number | undefined {
    const at = this.groups.get(group)?.get(user);
    return at === undefined ? undefined : Math.max(0, this.now() - at);
  }

  /** How many entries are kept for `group` (for the tests of the bound). */
  size(group: string): number {
    return this.groups.get(group)?.size ?? 0;
  }
}

/** One page of MEMBERS: the entries' JSON, ordered by user id, and whether more follow. */
export interface MembersPageJson {
  readonly entries: MemberEntry[];
  readonly more: boolean;
}

/**
 * The members with a user id above `after` (all, without it), in user id order, at most `limit`
 * of them and at most `maxBytes` of JSON in the array (brackets and commas counted), but never
 * none while some remain. Ordering by user id makes the cursor stable: a member present from the
 * first page to the last is listed exactly once, whoever joins or leaves meanwhile. Picks the
 * lowest ids above the cursor with a bounded buffer: one pass over the members per page.
 */
export function membersPage(
  members: ReadonlyMap<string, Member>,
  entry: (member: Member) => MemberEntry,
  options: { after?: string; limit: number; maxBytes?: number },
): MembersPageJson {
  const { after, limit } = options;
  const maxBytes = options.maxBytes ?? Limits.membersBytes;
  const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  // The lowest `limit + 1` ids above the cursor (the one extra says whether more follow). Once
  // that many are known, an id above the highest of them cannot be among them: most are skipped.
  const lowest: string[] = [];
  let bound: string | undefined;
  for (const user of members.keys()) {
    if ((after !== undefined && user <= after) || (bound !== undefined && user >= bound)) continue;
    lowest.push(user);
    if (lowest.length >= 2 * (limit + 1)) {
      lowest.sort(byId);
      lowest.length = limit + 1;
      bound = lowest[limit];
    }
  }
  lowest.sort(byId);
  const entries: MemberEntry[] = [];
  let bytes = 1; // "[" and "]", one of them counted with each entry's comma
  for (const user of lowest) {
    const member = members.get(user) as Member;
    const e = entry(member);
    const size = Buffer.byteLength(JSON.stringify(e)) + 1;
    if (entries.length >= limit || (entries.length > 0 && bytes + size > maxBytes)) return { entries, more: true };
    entries.push(e);
    bytes += size;
  }
  return { entries, more: false };
}

/** Whether a follower last seen `age` ms ago (undefined: never) counts as online. */
export const isOnline = (age: number | undefined): boolean => age !== undefined && age <= ONLINE_WINDOW_MS;
