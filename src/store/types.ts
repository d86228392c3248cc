import type { AppendResult, HistoryPage } from "../protocol/types.js";

export interface Member {
  readonly user: string;
  readonly name: string;
  readonly joined: number;
}

export interface HistoryQuery {
  /** Messages with ts >= since. */
  readonly since?: number;
  /** Messages with seq > after. */
  readonly after?: number;
  /** Messages with seq < before: the newest page below it. */
  readonly before?: number;
  readonly limit: number;
}

/** A page of history as JSON text, as the server sends it (built by SQLite, not by JavaScript). */
export interface HistoryPageJson {
  /** A JSON array of the page's messages (StoredMessage objects), oldest first. */
  readonly messages: string;
  readonly more: boolean;
}

/** A group's durable state. Every write resolves only after it is on disk. */
export interface GroupStore {
  readonly id: string;
  readonly name: string;
  readonly createdAt: number;
  /** Highest sequence number that is durable (and so visible to readers). */
  readonly durableSeq: number;
  readonly members: ReadonlyMap<string, Member>;
  join(user: string, name: string): Promise<{ joined: boolean }>;
  leave(user: string): Promise<{ left: boolean }>;
  append(message: { id: string; user: string; name: string; text: string }): Promise<AppendResult>;
  history(query: HistoryQuery): HistoryPage;
  /** The same page as history(), as JSON text. */
  historyJson(query: HistoryQuery): HistoryPageJson;
  count(): number;
  close(): Promise<void>;
}
