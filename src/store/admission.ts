/**
 * Who may join a group (PROTOCOL.md §6.3): the one rule both stores apply inside their join
 * write, so that a bar or an invite-only switch committed in the same batch as a JOIN is never
 * overtaken by it. Pure computation on the group's moderation state.
 */

/** Why a JOIN was refused. */
export type Refusal = "barred" | "not invited";

/** The parts of a group's state that decide a JOIN. */
export interface Admission {
  readonly owner: string | undefined;
  readonly members: ReadonlyMap<string, unknown>;
  readonly barred: ReadonlySet<string>;
  readonly inviteOnly: boolean;
  /** Full user ids, or fingerprint prefixes (8 to 31 hex digits, no hyphens). */
  readonly invites: ReadonlySet<string>;
}

/** A user id's 32 hex digits, what a fingerprint prefix is matched against. */
export const hexOf = (user: string): string => user.replaceAll("-", "");

/** Whether invite `entry` (a user id or a fingerprint prefix) names `user`. */
export function inviteNames(entry: string, user: string): boolean {
  return entry.includes("-") ? entry === user : hexOf(user).startsWith(entry);
}

/**
 * Whether `user` may join: the owner and current members (re-joining to rename) always may; a
 * barred user never; in an invite-only group only an invited one. `consume` is the fingerprint
 * invite that admitted the user: the store replaces it by the user's full id, so that a prefix
 * lets exactly one key in.
 */
export function admit(group: Admission, user: string): { refused?: Refusal; consume?: string } {
  if (group.owner === user || group.members.has(user)) return {};
  if (group.barred.has(user)) return { refused: "barred" };
  if (!group.inviteOnly || group.invites.has(user)) return {};
  for (const entry of group.invites) if (!entry.includes("-") && inviteNames(entry, user)) return { consume: entry };
  return { refused: "not invited" };
}
