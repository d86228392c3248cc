/**
 * The objects that cross the wire, as docs/PROTOCOL.md defines them. Both sides use these: the
 * servers to build replies, the client to read them. Pure types: no code.
 */

/** A message as stored and as sent on the wire (PROTOCOL.md, "Message object"). */
export interface StoredMessage {
  /** Per-group sequence number, strictly increasing from 1, assigned by the server. */
  readonly seq: number;
  /** Server time of the commit, UTC milliseconds; never decreases as seq grows. */
  readonly ts: number;
  /** Client-generated message id (a UUID); a retried send with the same id is not stored twice. */
  readonly id: string;
  readonly user: string;
  readonly name: string;
  readonly text: string;
}

/** The SEND reply (PROTOCOL.md §SEND). */
export interface AppendResult {
  readonly seq: number;
  readonly ts: number;
  /** True when this id was already stored: the original seq and ts are returned. */
  readonly duplicate: boolean;
}

/** A page of history (PROTOCOL.md §HISTORY). */
export interface HistoryPage {
  /** Oldest first. */
  readonly messages: StoredMessage[];
  /** True when more messages match beyond this page. */
  readonly more: boolean;
}

/** A group as the directory lists it (PROTOCOL.md §LIST). */
export interface GroupEntry {
  readonly name: string;
  readonly id: string;
  readonly address: string;
  readonly members: number;
  /** Milliseconds since the group server last refreshed its registration. */
  readonly age: number;
  /** The group server's CURVE public key (Z85), to connect to `address` with; absent when insecure. */
  readonly key?: string;
}

/** The SUBSCRIBE reply: where the group's live messages are published (PROTOCOL.md §SUBSCRIBE). */
export interface Subscription {
  readonly events: string;
  readonly topic: string;
  readonly last: number;
  readonly refresh: number;
}

/** A member as MEMBERS lists it (PROTOCOL.md §MEMBERS). */
export interface MemberEntry {
  /** The member's user id (lower case). */
  readonly user: string;
  /** The display name of their latest JOIN. */
  readonly name: string;
  /** When they first joined (UTC ms). */
  readonly joined: number;
  /** Whether their client followed the group (sent SUBSCRIBE) within the reply's `window`. */
  readonly online: boolean;
  /** When they last sent SUBSCRIBE (server time, UTC ms), or null if not since the server started. */
  readonly seen: number | null;
}

/** A page of the MEMBERS reply (PROTOCOL.md §MEMBERS). */
export interface MembersPage {
  readonly group: string;
  /** Ordered by user id. */
  readonly members: MemberEntry[];
  /** True when members with a higher user id exist beyond this page. */
  readonly more: boolean;
  /** How many members the group has. */
  readonly count: number;
  /** The owner's user id, or null while the group has none (the owner need not be a member). */
  readonly owner: string | null;
  /** How recent (ms) a SUBSCRIBE must be for `online`. */
  readonly window: number;
}

/** The INFO reply (PROTOCOL.md §INFO). `lastTs` and `events` are absent from servers older than them. */
export interface GroupInfo {
  readonly id: string;
  readonly name: string;
  readonly created: number;
  readonly members: number;
  readonly last: number;
  /** The server time (UTC ms) of the newest stored message, or null for a group without messages. */
  readonly lastTs?: number | null;
  readonly address: string;
  /** The events (XPUB) endpoint members' followers connect to. */
  readonly events?: string;
  readonly owner: string | null;
  readonly inviteOnly: boolean;
}
