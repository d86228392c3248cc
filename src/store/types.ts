/** A message as stored and as sent on the wire (docs/PROTOCOL.md, "Message object"). */
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

export interface HistoryPage {
  /** Oldest first. */
  readonly messages: StoredMessage[];
  /** True when more messages match beyond this page. */
  readonly more: boolean;
}

/** A page of history as JSON text, as the server sends it (built by SQLite, not by JavaScript). */
export interface HistoryPageJson {
  /** A JSON array of the page's messages (StoredMessage objects), oldest first. */
  readonly messages: string;
  readonly more: boolean;
}

export interface AppendResult {
  readonly seq: number;
  readonly ts: number;
  /** True when this id was already stored: the original seq and ts are returned. */
  readonly duplicate: boolean;
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
