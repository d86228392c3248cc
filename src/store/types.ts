import type { AppendResult } from "../protocol/types.js";
import type { Refusal } from "./admission.js";

export interface Member {
  /** The member's user id (a uuid, lower case). */
  readonly user: string;
  /** The display name given at the latest join. */
  readonly name: string;
  /** When the user first joined (UTC ms); joining again keeps it. */
  readonly joined: number;
}

/**
 * Which page of history: a cursor (at most one of `after` and `before`; neither means from the
 * start) and time bounds (`since`, `until`) that narrow it. Together they select the messages with
 * after < seq < before and since <= ts < until; `before` pages from the newest of them down.
 */
export interface HistoryQuery {
  /** Messages with ts >= since. */
  readonly since?: number;
  /** Messages with ts < until. */
  readonly until?: number;
  /** Messages with seq > after. */
  readonly after?: number;
  /** Messages with seq < before: the newest page below it. */
  readonly before?: number;
  /** At most this many messages (>= 1). */
  readonly limit: number;
  /**
   * At most this many bytes of JSON in the page's array (default Limits.historyBytes): the page
   * ends, with `more`, before a message that would pass it, but always holds at least one.
   */
  readonly maxBytes?: number;
}

/**
 * Which page of a search: the messages whose text holds every one of `words`, newest first, with
 * seq < before and since <= ts < until. A word matches a run of the text's words (letters and
 * digits; other characters separate them), compared without case or diacritics: "e-mail" matches
 * "E-Mail" and "e mail", "cafe" matches "Café". Each word has at least one letter or digit.
 */
export interface SearchQuery {
  readonly words: readonly string[];
  readonly since?: number;
  readonly until?: number;
  readonly before?: number;
  readonly limit: number;
  /** As HistoryQuery's. */
  readonly maxBytes?: number;
}

/** A page of history as JSON text, as the server sends it (built by SQLite, not by JavaScript). */
export interface HistoryPageJson {
  /** A JSON array of the page's messages (StoredMessage objects), oldest first (a search's: newest first). */
  readonly messages: string;
  readonly more: boolean;
}

/**
 * A group's durable state: its identity, members and message log, as the group server needs it.
 * One process holds a group's store at a time. Implementations: SqliteGroupStore (sqlite.ts, the
 * embedded default) and MemoryGroupStore (memory.ts, the test double); test/store/contract.test.ts
 * checks both against these promises:
 *
 * - Durable before resolve: a write's promise resolves only once the write would survive a crash
 *   (and a power cut, where the backend can promise that), and acknowledged writes are never lost.
 * - Sequence numbers: each new message gets `durableSeq + 1` at the time it is stored, so the
 *   seqs are 1, 2, 3, … with no holes and no reuse, even across restarts; `ts` (UTC ms, the
 *   store's clock) never decreases as seq grows. Appends resolve in seq order.
 * - Fail-stop: once a write could not be made durable, the store refuses every write (rejects
 *   with a StoreError) rather than let later ones vouch for it; the server is restarted.
 * - After close(), writes reject with a StoreError.
 * - Moderation (owner, barred, inviteOnly, invites) is durable like membership and read the same
 *   way; a barred user is never a member, and join() applies admission.ts's rule inside its write.
 */
export interface GroupStore {
  /** The group's id: a uuid made when the store was created, the same for its whole life. */
  readonly id: string;
  /** The group's name, as the store was opened with. */
  readonly name: string;
  /** When the store was created (UTC ms). */
  readonly createdAt: number;
  /**
   * The highest durable seq (0 for none): messages 1..durableSeq are all durable and readable,
   * and, as seqs have no holes, this is also the number of messages. Never decreases.
   */
  readonly durableSeq: number;
  /**
   * The current members by user id, read synchronously on every request. It includes a join (and
   * excludes a leave) from when the write is applied, possibly before it is durable; a write
   * that fails to commit is undone here too.
   */
  readonly members: ReadonlyMap<string, Member>;
  /** The owner's user id (the one who may moderate), or undefined before the group has one. */
  readonly owner: string | undefined;
  /** Whether only invited users (and the owner) may join. */
  readonly inviteOnly: boolean;
  /** The user ids that may not join. */
  readonly barred: ReadonlySet<string>;
  /** Invites: full user ids and fingerprint prefixes (8 to 31 lower-case hex digits). */
  readonly invites: ReadonlySet<string>;
  /**
   * Adds `user` with display name `name`, or renames a member (keeping their join time), if
   * admission.ts's admit() lets them in at the time the write is applied. Resolves once durable,
   * with `joined: false` if they were a member already, or with `refused` (and nothing written)
   * if they may not join. A fingerprint invite that admitted them becomes their full id.
   */
  join(user: string, name: string): Promise<{ joined: boolean; refused?: Refusal }>;
  /** Removes `user`. Resolves once durable, with `left: false` if they were not a member. */
  leave(user: string): Promise<{ left: boolean }>;
  /**
   * Makes `user` the owner, or, with `onlyIfNone`, only if the group has no owner when the write
   * is applied; an owner is never barred (a bar on them is lifted). Resolves with the owner.
   */
  setOwner(user: string, onlyIfNone?: boolean): Promise<{ owner: string }>;
  /** Turns invite-only on or off; `changed: false` if it was so already. */
  setInviteOnly(on: boolean): Promise<{ changed: boolean }>;
  /**
   * Bars `user` from joining, ending their membership and dropping every invite that names them
   * (admission.ts's inviteNames). `barred: false` if they were barred already.
   */
  bar(user: string): Promise<{ barred: boolean }>;
  /** Lifts a bar; `unbarred: false` if `user` was not barred. */
  unbar(user: string): Promise<{ unbarred: boolean }>;
  /** Adds an invite (a user id or a fingerprint prefix); `invited: false` if it was there already. */
  invite(entry: string): Promise<{ invited: boolean }>;
  /** Drops every invite that names `user` (their id, and prefixes of it); resolves with how many. */
  uninvite(user: string): Promise<{ dropped: number }>;
  /**
   * Stores a message with the next seq and the store's ts, resolving once it is durable. Idempotent
   * by id: if a message with this id (a uuid, in any letter case) is stored already, nothing is
   * stored and the original `{seq, ts}` is returned with `duplicate: true`. The caller checks
   * membership and gives the sender's current display name as `name`.
   */
  append(message: { id: string; user: string; name: string; text: string }): Promise<AppendResult>;
  /**
   * One page of durable messages (seq <= durableSeq), oldest first, at most `limit`, as the JSON
   * text the server sends (each a StoredMessage: seq, ts, id in lower case, user, name, text).
   * Of the messages HistoryQuery selects: with `before`, the newest `limit` of them; else the
   * oldest `limit`. `more` tells whether selected messages exist beyond the page in the direction
   * of paging (newer ones; for `before`, older ones).
   * The array is at most `maxBytes` of UTF-8 (page.ts's fillPage), unless its one message
   * alone is larger: a page that stops at the budget is shorter than `limit`, with `more: true`.
   */
  historyJson(query: HistoryQuery): HistoryPageJson;
  /**
   * One page of the durable messages that match a search, newest first, at most `limit` and
   * `maxBytes` as for historyJson; `more` tells whether older matches exist beyond the page.
   */
  searchJson(query: SearchQuery): HistoryPageJson;
  /**
   * Commits the writes already queued, waits until they are durable (resolving or rejecting
   * them), and releases the store (and its lock). Calling it again does nothing.
   */
  close(): Promise<void>;
  /**
   * Closes the store and removes the files this open created (a new group's), so that a server
   * whose start failed leaves nothing behind; a store that existed is only closed.
   */
  discard?(): Promise<void>;
  /** For a store that syncs a file: how often it has so far, and how many writes that made durable. */
  syncCounts?(): SyncCounts;
}

/** What a group-commit store's syncs have done since it was opened (docs/PERFORMANCE.md). */
export interface SyncCounts {
  /** Writes acknowledged as durable (SENDs, JOINs, ...). */
  writes: number;
  /** fdatasyncs of the log (the WAL) that acknowledged them, one per group commit at most. */
  syncs: number;
  /** fdatasyncs of the high-water mark, at most a few per second, acknowledging nothing. */
  markSyncs: number;
}

/**
 * Opens the store of group `name` for a GroupServer, creating it on first use. Rejects (a
 * StoreError, naming the file or database) if the store cannot be held: another process serves
 * the group, it belongs to another group, it is not a gm store. The server closes each store it
 * opened. sqlite.ts's `sqliteStores(dataDir)` makes one for SQLite files.
 */
export type StoreFactory = (name: string) => GroupStore | Promise<GroupStore>;
