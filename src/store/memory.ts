import { v4 as uuidv4 } from "uuid";
import { StoreError } from "../protocol/errors.js";
import type { AppendResult, StoredMessage } from "../protocol/types.js";
import { admit, inviteNames, type Refusal } from "./admission.js";
import { fillPage } from "./page.js";
import type { GroupStore, HistoryPageJson, HistoryQuery, Member, SearchQuery, StoreFactory } from "./types.js";

/** What a memory store keeps across close and reopen: its "disk". */
export interface MemoryGroupData {
  readonly id: string;
  readonly createdAt: number;
  readonly messages: StoredMessage[];
  /** Message id (lower case) -> index in `messages`. */
  readonly ids: Map<string, number>;
  readonly members: Map<string, Member>;
  owner: string | undefined;
  inviteOnly: boolean;
  readonly barred: Set<string>;
  readonly invites: Set<string>;
  open: boolean;
}

/**
 * A group's store in memory: the test double for handler tests, keeping every promise of the
 * GroupStore interface except surviving the process. Every write is applied at once and is
 * "durable" when it is applied; its promise resolves on a later microtask, as a real store's
 * does after its commit.
 */
export class MemoryGroupStore implements GroupStore {
  private closed = false;

  /**
   * Opens group `name` on `held` (default: a fresh group), refusing it while another store holds
   * it, as SQLite's lock does. memoryStores() keeps each group's data across close and reopen.
   */
  constructor(
    readonly name: string,
    private readonly held: MemoryGroupData = memoryGroupData(),
  ) {
    if (held.open) throw new StoreError(`group "${name}" is already served by another store in this process`);
    held.open = true;
  }

  get id(): string {
    return this.held.id;
  }

  get createdAt(): number {
    return this.held.createdAt;
  }

  get durableSeq(): number {
    return this.held.messages.length;
  }

  get members(): ReadonlyMap<string, Member> {
    return this.held.members;
  }

  get owner(): string | undefined {
    return this.held.owner;
  }

  get inviteOnly(): boolean {
    return this.held.inviteOnly;
  }

  get barred(): ReadonlySet<string> {
    return this.held.barred;
  }

  get invites(): ReadonlySet<string> {
    return this.held.invites;
  }

  join(user: string, name: string): Promise<{ joined: boolean; refused?: Refusal }> {
    return this.write(() => {
      const { refused, consume } = admit(this.held, user);
      if (refused !== undefined) return { joined: false, refused };
      if (consume !== undefined) {
        this.held.invites.delete(consume);
        this.held.invites.add(user);
      }
      const existing = this.held.members.get(user);
      this.held.members.set(user, { user, name, joined: existing?.joined ?? Date.now() });
      return { joined: existing === undefined };
    });
  }

  leave(user: string): Promise<{ left: boolean }> {
    return this.write(() => ({ left: this.held.members.delete(user) }));
  }

  setOwner(user: string, onlyIfNone = false): Promise<{ owner: string }> {
    return this.write(() => {
      if (!onlyIfNone || this.held.owner === undefined) {
        this.held.owner = user;
        this.held.barred.delete(user);
      }
      return { owner: this.held.owner as string };
    });
  }

  setInviteOnly(on: boolean): Promise<{ changed: boolean }> {
    return this.write(() => {
      const changed = this.held.inviteOnly !== on;
      this.held.inviteOnly = on;
      return { changed };
    });
  }

  bar(user: string): Promise<{ barred: boolean }> {
    return this.write(() => {
      this.held.members.delete(user);
      this.dropInvites(user);
      if (this.held.barred.has(user)) return { barred: false };
      this.held.barred.add(user);
      return { barred: true };
    });
  }

  unbar(user: string): Promise<{ unbarred: boolean }> {
    return this.write(() => ({ unbarred: this.held.barred.delete(user) }));
  }

  invite(entry: string): Promise<{ invited: boolean }> {
    return this.write(() => {
      if (this.held.invites.has(entry)) return { invited: false };
      this.held.invites.add(entry);
      return { invited: true };
    });
  }

  uninvite(user: string): Promise<{ dropped: number }> {
    return this.write(() => ({ dropped: this.dropInvites(user) }));
  }

  private dropInvites(user: string): number {
    let dropped = 0;
    for (const entry of [...this.held.invites]) {
      if (inviteNames(entry, user)) {
        this.held.invites.delete(entry);
        dropped++;
      }
    }
    return dropped;
  }

  append(message: { id: string; user: string; name: string; text: string }): Promise<AppendResult> {
    return this.write(() => {
      const id = message.id.toLowerCase();
      const { messages, ids } = this.held;
      const index = ids.get(id);
      if (index !== undefined) {
        const original = messages[index] as StoredMessage;
        return { seq: original.seq, ts: original.ts, duplicate: true };
      }
      const seq = messages.length + 1;
      const ts = Math.max(Date.now(), messages.at(-1)?.ts ?? 0);
      messages.push({ seq, ts, id, user: message.user, name: message.name, text: message.text });
      ids.set(id, seq - 1);
      return { seq, ts, duplicate: false };
    });
  }

  historyJson(query: HistoryQuery): HistoryPageJson {
    const { messages } = this.held;
    const [lo, hi] = this.range(query);
    if (query.before !== undefined) {
      const page = fillPage(json(messages, hi - 1, lo, -1), query.limit, query.maxBytes);
      return { messages: `[${page.rows.reverse().join(",")}]`, more: page.more };
    }
    const page = fillPage(json(messages, lo, hi - 1, 1), query.limit, query.maxBytes);
    return { messages: `[${page.rows.join(",")}]`, more: page.more };
  }

  /**
   * A plain scan, newest first, matching as SQLite's FTS5 index does (unicode61, diacritics
   * removed): each word's tokens must appear in a row in the text's tokens.
   */
  searchJson(query: SearchQuery): HistoryPageJson {
    const { messages } = this.held;
    const [lo, hi] = this.range(query);
    const words = query.words.map(tokens).filter((w) => w.length > 0);
    const matching = function* () {
      for (let i = hi - 1; i >= lo; i--) {
        const m = messages[i] as StoredMessage;
        const text = tokens(m.text);
        if (words.every((w) => holds(text, w))) yield JSON.stringify(m);
      }
    };
    const page = fillPage(matching(), query.limit, query.maxBytes);
    return { messages: `[${page.rows.join(",")}]`, more: page.more };
  }

  /** The messages a query selects, as indexes [lo, hi) into `messages` (index = seq - 1). */
  private range(query: Omit<HistoryQuery, "limit">): [number, number] {
    const { messages } = this.held;
    // Messages with ts < time: ts never decreases as seq grows, so they are a prefix.
    const below = (time: number) => {
      const i = messages.findIndex((m) => m.ts >= time);
      return i < 0 ? messages.length : i;
    };
    let lo = Math.min(query.after ?? 0, messages.length);
    if (query.since !== undefined) lo = Math.max(lo, below(query.since));
    let hi = messages.length;
    if (query.before !== undefined) hi = Math.min(hi, query.before - 1);
    if (query.until !== undefined) hi = Math.min(hi, below(query.until));
    return [lo, Math.max(lo, hi)];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.held.open = false;
  }

  private write<T>(apply: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError(`the store for "${this.name}" is closed`));
    return Promise.resolve(apply());
  }
}

/** The JSON of messages[from], messages[from + step], … up to messages[to] (both included). */
function* json(messages: readonly StoredMessage[], from: number, to: number, step: 1 | -1): Generator<string> {
  for (let i = from; step > 0 ? i <= to : i >= to; i += step) yield JSON.stringify(messages[i]);
}

/**
 * A text's words as FTS5's unicode61 tokenizer makes them (with remove_diacritics): runs of
 * letters and digits (marks kept with them), in lower case, without diacritics.
 */
function tokens(text: string): string[] {
  const folded = text.normalize("NFD").toLowerCase();
  return (folded.match(/[\p{L}\p{N}\p{M}]+/gu) ?? []).map((t) => t.replace(/\p{M}/gu, "")).filter((t) => t.length > 0);
}

/** Whether `text` holds the tokens of `phrase` one after another. */
function holds(text: readonly string[], phrase: readonly string[]): boolean {
  for (let i = 0; i + phrase.length <= text.length; i++) {
    if (phrase.every((t, j) => text[i + j] === t)) return true;
  }
  return false;
}

/** A new group's data: a new id, no members, no messages, no owner, open to all. */
export function memoryGroupData(): MemoryGroupData {
  return {
    id: uuidv4(),
    createdAt: Date.now(),
    messages: [],
    ids: new Map(),
    members: new Map(),
    owner: undefined,
    inviteOnly: false,
    barred: new Set(),
    invites: new Set(),
    open: false,
  };
}

/**
 * A StoreFactory of memory stores that keeps each group's state while the factory lives, so a
 * GroupServer restarted on the same factory finds its groups as it left them (same id, members
 * and messages); a group held by a running server is refused to a second one.
 */
export function memoryStores(): StoreFactory {
  const groups = new Map<string, MemoryGroupData>();
  return (name) => {
    let held = groups.get(name);
    if (held === undefined) {
      held = memoryGroupData();
      groups.set(name, held);
    }
    return new MemoryGroupStore(name, held);
  };
}
