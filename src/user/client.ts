import { v7 as uuidv7 } from "uuid";
import { RpcClient } from "../net/rpc-client.js";
import type { ClientSecurity } from "../net/security.js";
import { EventStream } from "../net/subscriber.js";
import {
  type AppendResult,
  CancelledError,
  DirectoryCommand,
  ErrorCode,
  EventKind,
  GmError,
  GroupCommand,
  type GroupEntry,
  HandshakeError,
  type HistoryPage,
  Limits,
  type MemberEntry,
  type MembersPage,
  NotServedError,
  RemoteError,
  type StoredMessage,
  type Subscription,
  TimeoutError,
  UsageError,
} from "../protocol/index.js";
import { type Key, type KeyPair, userRefOf } from "../protocol/keys.js";
import { groupName, groupNameKey, messageText, searchWords } from "../protocol/validate.js";
import { Beat } from "./beat.js";
import { Feed, type FeedOptions, type FeedSource } from "./feed.js";
import { withHint } from "./hints.js";
import type { JoinedGroup, Profile } from "./profile.js";

export interface ClientOptions {
  /** The directory endpoint. */
  readonly server: string;
  readonly timeoutMs?: number;
  readonly tries?: number;
  /** Keep connections watched for reconnects (long-lived clients that follow groups). */
  readonly live?: boolean;
  /**
   * CURVE: the user's keypair (the profile's) and the directory's public key (or why none is
   * known: only a request to the directory then fails, with it); group servers' keys come from the
   * directory's LIST. Absent: plain text (`--insecure`).
   */
  readonly security?: { readonly keys: KeyPair; readonly serverKey: Key | Error };
}

/** One followed group: its feed, where its live messages come from, whether it is being left. */
interface Followed {
  readonly feed: Feed;
  /** The events stream and topic the feed listens on, once it does. */
  listening: { readonly stream: EventStream; readonly topic: string } | undefined;
  /** Set while this client leaves the group: the LEFT event that follows is expected, not news. */
  leaving: boolean;
}

/** What every request-making method of GmClient may be given. */
export interface CallOptions {
  /**
   * Gives up on the call (the shell's Ctrl-C): what waits for a reply rejects at once with
   * CancelledError, is not tried again, and a later reply is dropped.
   */
  readonly signal?: AbortSignal | undefined;
}

export interface MessagesOptions extends CallOptions {
  /** UTC ms: messages at or after this time. */
  readonly since?: number;
  /** UTC ms: messages before this time. */
  readonly until?: number;
  /** A seq: messages numbered below it. */
  readonly before?: number;
  /** Messages after this seq (e.g. the read marker), oldest first; not with `since` or `before`. */
  readonly after?: number;
  /** At most this many: the newest of the messages the other options select (with `after`, the oldest). */
  readonly limit?: number;
}

/** How many matches a search shows unless told otherwise. */
export const SEARCH_LIMIT = 20;

/** What `history` and `search` found, and whether older matches exist beyond them. */
export interface Found {
  /** History: oldest first; a search: newest first. */
  readonly messages: StoredMessage[];
  /** Older messages match too: ask again with `before` = the seq of the oldest one here. */
  readonly older: boolean;
}

/** A joined group's unread count: `last` and `unread` are undefined if its server did not answer in time. */
export interface UnreadCount {
  readonly group: string;
  /** The read marker (0: nothing seen yet). */
  readonly read: number;
  readonly last: number | undefined;
  readonly unread: number | undefined;
}

/** What `leave` did: left on the server, forgot it without the server (`forced`), or nothing to do. */
export interface LeaveResult {
  readonly group: string;
  /** Whether the profile had joined the group (false: nothing was done). */
  readonly joined: boolean;
  /** Whether the server had the user as a member (undefined when it was not asked). */
  readonly left?: boolean;
  /** Members after the leave, as the server counts them (undefined when it was not asked). */
  readonly members?: number;
  /** Forgotten without reaching the server (`--force`): it may still list the user. */
  readonly forced: boolean;
  /** The group server's endpoint. */
  readonly address?: string;
}

const notJoined = (group: string): GmError =>
  withHint(new GmError(ErrorCode.NotMember, `you have not joined "${group}"`), joinFirst(group));

/**
 * How long a request to a group server may go unanswered before the client asks the directory,
 * concurrently, whether the group is served at all (the answer only counts if the server has no
 * connection up either). A live server answers well within it, so the usual path asks nothing more.
 */
export const NOT_SERVED_CHECK_MS = 300;
/** How long `unread()` waits for each group server (one try). */
export const UNREAD_TIMEOUT_MS = 1000;
/** Read markers of messages shown live are written at most this often (and on close). */
export const MARK_INTERVAL_MS = 1000;

/**
 * The user's side of gm: the one API behind both the one-shot commands and the shell. Finds groups
 * through the directory, then talks to each group's server directly, remembering joined groups in
 * the profile.
 */
export class GmClient {
  /** One RPC client per endpoint (directory, group servers), shared by the groups there. */
  private readonly clients = new Map<string, RpcClient>();
  /** One events stream per events endpoint, carrying the topics of every group followed there. */
  private readonly streams = new Map<string, EventStream>();
  /** Each followed group, by name. */
  private readonly followed = new Map<string, Followed>();
  /** One timer per group server endpoint for the periodic check-ins of the feeds there. */
  private readonly beats = new Map<string, Beat>();
  /** Whether the directory has answered: its key (the one this client was given) is right. */
  directoryAnswered = false;
  /** Read markers to write (group → seq), at most every MARK_INTERVAL_MS. */
  private readonly marks = new Map<string, number>();
  private markTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly profile: Profile,
    private readonly options: ClientOptions,
  ) {}

  /** The directory's endpoint. */
  get server(): string {
    return this.options.server;
  }

  get user(): string {
    return this.profile.data.uuid;
  }

  /** CURVE towards a server whose key is `serverKey` (undefined: an insecure client). */
  private security(serverKey: Key | undefined, endpoint: string): ClientSecurity | undefined {
    const own = this.options.security;
    if (own === undefined) return undefined;
    if (serverKey === undefined) {
      throw new GmError(
        ErrorCode.AuthRequired,
        `no public key known for ${endpoint}: the directory did not give one (is it running with --insecure?)`,
      );
    }
    return { keys: own.keys, serverKey };
  }

  /** The RPC client of an endpoint; a server there with another key than before gets a new one. */
  private rpc(endpoint: string, serverKey: Key | undefined): RpcClient {
    const security = this.security(serverKey, endpoint);
    let c = this.clients.get(endpoint);
    if (c !== undefined && c.serverKey !== security?.serverKey) {
      void c.close();
      c = undefined;
    }
    if (c === undefined) {
      c = new RpcClient(endpoint, {
        ...(this.options.timeoutMs !== undefined && { timeoutMs: this.options.timeoutMs }),
        ...(this.options.tries !== undefined && { tries: this.options.tries }),
        ...(this.options.live === true && { onConnect: () => this.reconnected(endpoint) }),
        ...(security !== undefined && { security }),
      });
      this.clients.set(endpoint, c);
    }
    return c;
  }

  private directory(): RpcClient {
    return this.rpc(this.options.server, this.directoryKey());
  }

  /** The directory's key (undefined: an insecure client); throws if none is known. */
  private directoryKey(): Key | undefined {
    const key = this.options.security?.serverKey;
    if (key instanceof Error) throw key;
    return key;
  }

  /** The groups the directory knows, with their endpoints (the original list_groups). */
  async listGroups(options: CallOptions = {}): Promise<GroupEntry[]> {
    const reply = await this.directory().request<{ groups: GroupEntry[] }>(
      DirectoryCommand.List,
      { user: this.user },
      { signal: options.signal },
    );
    this.directoryAnswered = true;
    return reply.groups;
  }

  /**
   * PING the directory (PROTOCOL.md §6.1): checks that it answers, to this client's key for it,
   * and that it is a directory. Resolves with how many groups it lists.
   */
  async pingDirectory(): Promise<{ groups: number }> {
    const reply = await this.directory().request<{ role?: unknown; groups?: unknown }>(DirectoryCommand.Ping, {});
    if (reply.role !== "directory") {
      throw new GmError(
        ErrorCode.BadRequest,
        `${this.options.server} is not a message server (it answers as ${JSON.stringify(String(reply.role))}); give the endpoint of \`gm server\` (or \`gm up\`)`,
      );
    }
    this.directoryAnswered = true;
    return { groups: typeof reply.groups === "number" ? reply.groups : 0 };
  }

  /**
   * A group name as this profile spells it: the joined group whose name differs from `group` only
   * in case (names that do are one name, PROTOCOL.md §4), else `group` as given.
   */
  spelled(group: string): string {
    const key = groupNameKey(group);
    const find = (groups: Record<string, JoinedGroup>) => Object.keys(groups).find((g) => groupNameKey(g) === key);
    return find(this.profile.data.groups) ?? find(this.profile.refresh().data.groups) ?? group;
  }

  /** The directory's entry for `group`, in whatever case it is registered (PROTOCOL.md §4). */
  private async locate(group: string, quick = false, options: CallOptions = {}): Promise<GroupEntry> {
    const groups = quick ? await this.listQuick(options) : await this.listGroups(options);
    const found = groups.find((g) => groupNameKey(g.name) === groupNameKey(group));
    if (found === undefined) {
      throw withHint(
        new GmError(ErrorCode.UnknownGroup, `no group named "${group}" is registered with ${this.options.server}`),
        { advice: "see the groups there are", remedy: { action: "list-groups" } },
      );
    }
    return found;
  }

  /** The directory's LIST as a second opinion after a failure: one short try, so the user's wait stays bounded. */
  private async listQuick(options: CallOptions = {}): Promise<GroupEntry[]> {
    const security = this.security(this.directoryKey(), this.options.server);
    const rpc = new RpcClient(this.options.server, { tries: 1, timeoutMs: 1500, ...(security && { security }) });
    try {
      const list = { user: this.user };
      const { groups } = await rpc.request<{ groups: GroupEntry[] }>(DirectoryCommand.List, list, options);
      this.directoryAnswered = true;
      return groups;
    } finally {
      await rpc.close();
    }
  }

  /** Joins a group found through the directory and remembers it (the original join_group). */
  async join(
    group: string,
    options: CallOptions = {},
  ): Promise<{ group: string; members: number; joined: boolean; address: string }> {
    UsageError.check(() => groupName({ group }));
    const entry = await this.locate(group, false, options);
    // The group is remembered, and named in every request, as the directory spells it.
    const reply = await this.joinAt(entry.name, entry, options);
    return { group: entry.name, members: reply.members, joined: reply.joined, address: entry.address };
  }

  /**
   * JOIN at the server the directory gave, and remember the group with that server's key. A
   * profile made before keys claims its old id there, which moves that membership to its key.
   */
  private async joinAt(
    group: string,
    entry: GroupEntry,
    options: CallOptions = {},
  ): Promise<{ members: number; joined: boolean; id: string }> {
    const name = this.profile.data.name;
    const legacy = this.profile.data.legacyUuid;
    const reply = await this.rpc(entry.address, entry.key).request<{
      members: number;
      joined: boolean;
      id: string;
      last?: number;
    }>(GroupCommand.Join, { group, user: this.user, name, ...(legacy !== undefined && { claim: legacy }) }, options);
    this.profile.update((d) => {
      const before = d.groups[group];
      // A new join starts with nothing unread: the history so far is the group's past, not news.
      const read = before?.id === reply.id ? before.read : (reply.last ?? 0);
      let joined = before?.joined;
      for (const other of Object.keys(d.groups)) {
        // Joined before under another spelling (the group's server was renamed in case): one group.
        if (other === group || groupNameKey(other) !== groupNameKey(group)) continue;
        joined ??= d.groups[other]?.joined;
        delete d.groups[other];
      }
      joined ??= Date.now();
      d.groups[group] = {
        id: reply.id,
        address: entry.address,
        joined,
        displayName: name,
        ...(entry.key !== undefined && { key: entry.key }),
        ...(read !== undefined && { read }),
      };
    });
    return reply;
  }

  /**
   * Leaves a joined group and forgets it (the original leave_group). Like `join`, it is idempotent:
   * a group this profile has not joined is left alone (`joined: false`). With `force`, the group is
   * forgotten without asking its server (for a server gone for good), which may still list the user.
   */
  async leave(asked: string, options: CallOptions & { force?: boolean } = {}): Promise<LeaveResult> {
    UsageError.check(() => groupName({ group: asked }));
    const group = this.spelled(asked);
    const joined = this.profile.data.groups[group] ?? this.profile.refresh().data.groups[group];
    if (joined === undefined) return { group, joined: false, forced: false };
    if (options.force === true) {
      this.forget(group);
      return { group, joined: true, forced: true, address: joined.address };
    }
    const followed = this.followed.get(group);
    if (followed !== undefined) followed.leaving = true;
    let reply: { members: number; left?: boolean };
    try {
      reply = await this.onGroup(
        group,
        (rpc) =>
          rpc.request<{ members: number; left?: boolean }>(GroupCommand.Leave, { group, user: this.user }, options),
        options,
      );
    } catch (err) {
      if (err instanceof TimeoutError || err instanceof NotServedError) {
        withHint(err, { advice: "to forget the group anyway", remedy: { action: "forget", group } });
      }
      throw err;
    } finally {
      if (followed !== undefined) followed.leaving = false;
    }
    this.forget(group);
    return {
      group,
      joined: true,
      forced: false,
      members: reply.members,
      left: reply.left !== false,
      address: this.profile.data.groups[group]?.address ?? joined.address,
    };
  }

  /** Stops following a group and removes it from the profile. */
  private forget(group: string): void {
    this.unfollow(group);
    this.marks.delete(group);
    this.profile.update((d) => {
      delete d.groups[group];
    });
  }

  /**
   * REMOVE (PROTOCOL.md §6.3): as the group's owner, ends a member's membership and, with `bar`,
   * bars their key. `member`: a public key, a user id or a fingerprint.
   */
  remove(
    group: string,
    member: string,
    bar = false,
    options: CallOptions = {},
  ): Promise<{ group: string; member: string; left: boolean; barred: boolean; members: number }> {
    const ref = UsageError.check(() => userRefOf(member, "member"));
    return this.asOwner(group, GroupCommand.Remove, { member: ref, bar }, options);
  }

  /** UNBAR (PROTOCOL.md §6.3): as the owner, lets a barred key join again. */
  unbar(
    group: string,
    member: string,
    options: CallOptions = {},
  ): Promise<{ group: string; member: string; unbarred: boolean }> {
    const ref = UsageError.check(() => userRefOf(member, "member"));
    return this.asOwner(group, GroupCommand.Unbar, { member: ref }, options);
  }

  /** INVITE (PROTOCOL.md §6.3): as the owner, invites a public key, user id or fingerprint. */
  invite(
    group: string,
    invitee: string,
    options: CallOptions = {},
  ): Promise<{ group: string; invitee: string; invited: boolean; inviteOnly: boolean }> {
    const ref = UsageError.check(() => userRefOf(invitee, "invitee"));
    return this.asOwner(group, GroupCommand.Invite, { invitee: ref }, options);
  }

  /** SETTINGS (PROTOCOL.md §6.3): as the owner, makes the group invite-only or open. */
  setInviteOnly(
    group: string,
    inviteOnly: boolean,
    options: CallOptions = {},
  ): Promise<{ group: string; owner: string; inviteOnly: boolean; changed: boolean }> {
    return this.asOwner(group, GroupCommand.Settings, { inviteOnly }, options);
  }

  /**
   * Who is in a group (MEMBERS, PROTOCOL.md §MEMBERS): every member, page after page, ordered by
   * user id, with whether each follows the group now. Members and the group's owner only.
   */
  async members(asked: string, options: CallOptions = {}): Promise<Omit<MembersPage, "more">> {
    let after: string | undefined;
    const members: MemberEntry[] = [];
    for (;;) {
      let page: MembersPage;
      try {
        page = await this.asOwner(
          asked,
          GroupCommand.Members,
          { limit: Limits.membersPageMax, ...(after !== undefined && { after }) },
          options,
        );
      } catch (err) {
        if (err instanceof RemoteError && err.code === ErrorCode.NotMember) {
          throw withHint(
            new GmError(
              ErrorCode.NotMember,
              `you are not a member of "${asked}": only its members and its owner see who is in it`,
              err.status,
              { cause: err },
            ),
            joinFirst(asked),
          );
        }
        if (!(err instanceof RemoteError && err.code === ErrorCode.UnknownCommand)) throw err;
        throw new GmError(
          ErrorCode.UnknownCommand,
          `the group server of "${asked}" (${err.endpoint}) is older than the member list: it does not know MEMBERS`,
          err.status,
          { cause: err },
        );
      }
      members.push(...page.members);
      after = page.members.at(-1)?.user;
      if (!page.more || after === undefined) {
        return { group: page.group, count: page.count, owner: page.owner, window: page.window, members };
      }
    }
  }

  /**
   * An owner's request (or a member's that an owner may make too): at the joined group's server,
   * or, since an owner (`gm group --owner`) need not be a member, where the directory says the
   * group is.
   */
  private async asOwner<T>(
    asked: string,
    command: string,
    fields: Record<string, unknown>,
    options: CallOptions,
  ): Promise<T> {
    UsageError.check(() => groupName({ group: asked }));
    const group = this.spelled(asked);
    const body = { group, user: this.user, ...fields };
    if ((this.profile.data.groups[group] ?? this.profile.refresh().data.groups[group]) !== undefined) {
      return this.onGroup(group, (rpc) => rpc.request<T>(command, body, options), options);
    }
    const entry = await this.locate(group, false, options);
    return this.rpc(entry.address, entry.key).request<T>(command, body, options);
  }

  /** The groups this profile has joined (the original show_groups). */
  groups(): Array<{ name: string } & JoinedGroup> {
    return this.profile.joined();
  }

  /**
   * Sends a message; resolves once the group server has it on disk (the original send_message),
   * with the group's name in its own spelling (as joined), whatever case it was asked in.
   */
  async send(
    asked: string,
    text: string,
    id: string = uuidv7(),
    options: CallOptions = {},
  ): Promise<AppendResult & { group: string }> {
    const group = this.spelled(asked);
    UsageError.check(() => messageText({ text }));
    /** Whether the SEND itself was asked for (a cancel before it leaves nothing stored). */
    let sending = false;
    try {
      await this.renameIn(group, options);
      const stored = await this.onGroup(
        group,
        (rpc) => {
          sending = true;
          return rpc.request<AppendResult>(GroupCommand.Send, { group, user: this.user, id, text }, options);
        },
        options,
      );
      return { group, ...stored };
    } catch (err) {
      // Cancelled while a JOIN (the rename) or the directory was asked: the message never left.
      if (err instanceof CancelledError && !sending && err.sent) {
        throw new CancelledError(err.endpoint, false, { cause: err });
      }
      // A try may have reached the server before the link or the server failed, or (not served)
      // may still reach it if it comes back while this client is open.
      if (err instanceof TimeoutError || (err instanceof NotServedError && this.options.live === true)) {
        throw withHint(err, {
          advice: "the message may still have been stored; look before sending it again",
          remedy: { action: "messages", group },
        });
      }
      throw notMember(err, group);
    }
  }

  /**
   * The group server keeps the display name it got at JOIN and stamps it on every message: after
   * the profile's name changed (`--display-name`), JOIN again (it updates the name, PROTOCOL.md
   * §JOIN) before the next message goes out under the old one.
   */
  private async renameIn(group: string, options: CallOptions & { tries?: number } = {}): Promise<void> {
    const name = this.profile.data.name;
    const known = this.profile.data.groups[group] ?? this.profile.refresh().data.groups[group];
    if (known === undefined || known.displayName === name) return;
    const legacy = this.profile.data.legacyUuid;
    const join = { group, user: this.user, name, ...(legacy !== undefined && { claim: legacy }) };
    await this.onGroup(group, (rpc) => rpc.request(GroupCommand.Join, join, options), options);
    this.profile.update((d) => {
      const current = d.groups[group];
      if (current !== undefined) d.groups[group] = { ...current, displayName: name };
    });
  }

  /**
   * Carries the profile's display name to every joined group whose server has another one (a
   * repeated JOIN, one try each, all at once), so it shows at once rather than with the next
   * message. A group that cannot be reached is reported, not fatal: its next send tries again.
   */
  async renameEverywhere(): Promise<{ renamed: string[]; failed: Array<{ group: string; error: Error }> }> {
    const name = this.profile.refresh().data.name;
    const stale = this.groups().filter((g) => g.displayName !== name);
    const outcomes = await Promise.all(
      stale.map(async ({ name: group }) => {
        try {
          await this.renameIn(group, { tries: 1 });
          return { group };
        } catch (err) {
          return { group, error: err instanceof Error ? err : new Error(String(err)) };
        }
      }),
    );
    return {
      renamed: outcomes.filter((o) => o.error === undefined).map((o) => o.group),
      failed: outcomes.flatMap((o) => (o.error === undefined ? [] : [{ group: o.group, error: o.error }])),
    };
  }

  /** Fetches one page of history (the wire's HISTORY, unchanged). */
  page(
    asked: string,
    query: { since?: number; until?: number; after?: number; before?: number; limit?: number },
    options: CallOptions = {},
  ): Promise<HistoryPage & { last: number }> {
    const group = this.spelled(asked);
    const body = { group, user: this.user, ...query };
    return this.onGroup(
      group,
      (rpc) => rpc.request<HistoryPage & { last: number }>(GroupCommand.History, body, options),
      options,
    ).catch((err: unknown) => {
      throw notMember(err, group);
    });
  }

  /** Messages, oldest first (the original get_messages): all that `options` select, or the newest `limit`. */
  async messages(group: string, options: MessagesOptions = {}): Promise<StoredMessage[]> {
    return (await this.history(group, options)).messages;
  }

  /**
   * Messages, oldest first, following pages until done or `limit`: without `limit` or `before`,
   * forwards from the start (or `since`); with `after` (the read marker), forwards from it, the
   * oldest `limit`; else backwards from `before` (or the end), so that `limit` gives the newest.
   */
  async history(group: string, options: MessagesOptions = {}): Promise<Found> {
    const { since, until, before, after, limit } = options;
    const call = { signal: options.signal };
    const bounds = { ...(since !== undefined && { since }), ...(until !== undefined && { until }) };
    if ((limit === undefined && before === undefined) || after !== undefined) {
      // From `since`, `after` or the start, then after the last seq seen: everything past it is at
      // or after `since` too, and a group server from before `until` took `since` with no cursor.
      const out: StoredMessage[] = [];
      let from: { since?: number; after?: number } =
        after !== undefined || since === undefined ? { after: after ?? 0 } : { since };
      for (;;) {
        const want = Math.min(Limits.historyPageMax, limit === undefined ? Limits.historyPageMax : limit - out.length);
        const p = await this.page(group, { ...from, ...(until !== undefined && { until }), limit: want }, call);
        out.push(...p.messages);
        const lastSeq = p.messages.at(-1)?.seq;
        if (!p.more || lastSeq === undefined) return { messages: out, older: false };
        if (limit !== undefined && out.length >= limit) return { messages: out, older: false };
        from = { after: lastSeq };
      }
    }
    const pages: StoredMessage[][] = [];
    let count = 0;
    let cursor = before ?? Number.MAX_SAFE_INTEGER;
    let older = false;
    while (limit === undefined || count < limit) {
      const want = Math.min(Limits.historyPageMax, limit === undefined ? Limits.historyPageMax : limit - count);
      const p = await this.page(group, { ...bounds, before: cursor, limit: want }, call);
      pages.unshift(p.messages);
      count += p.messages.length;
      older = p.more;
      const first = p.messages[0];
      if (!p.more || first === undefined) break;
      cursor = first.seq;
    }
    return { messages: pages.flat(), older };
  }

  /**
   * The messages whose text holds every word of `query` (PROTOCOL.md §SEARCH), newest first: the
   * newest `limit` (default 20) of those the options select.
   */
  async search(asked: string, query: string, options: MessagesOptions = {}): Promise<Found> {
    const group = this.spelled(asked);
    try {
      searchWords({ query });
    } catch (err) {
      // The server's own check, in the words of a user who typed words, not a "query" field.
      throw new UsageError((err as Error).message.replace('"query"', "the search"), { cause: err });
    }
    const { since, until, before } = options;
    const limit = options.limit ?? SEARCH_LIMIT;
    const out: StoredMessage[] = [];
    let cursor = before;
    for (;;) {
      const want = Math.min(Limits.historyPageMax, limit - out.length);
      const body = {
        group,
        user: this.user,
        query,
        limit: want,
        ...(since !== undefined && { since }),
        ...(until !== undefined && { until }),
        ...(cursor !== undefined && { before: cursor }),
      };
      const call = { signal: options.signal };
      const p = await this.onGroup(group, (rpc) => rpc.request<HistoryPage>(GroupCommand.Search, body, call), call);
      out.push(...p.messages);
      const oldest = p.messages.at(-1);
      if (!p.more || oldest === undefined || out.length >= limit) return { messages: out, older: p.more };
      cursor = oldest.seq;
    }
  }

  /** The read marker of a joined group (0 if none yet); NOT_MEMBER if it is not joined. */
  readMarker(asked: string): number {
    const group = this.spelled(asked);
    const joined = this.profile.refresh().data.groups[group];
    if (joined === undefined) throw notJoined(group);
    return Math.max(joined.read ?? 0, this.marks.get(group) ?? 0);
  }

  /**
   * Records that the user has been shown `group`'s messages up to `seq`: the read marker moves
   * there unless it is already further. Written at most every MARK_INTERVAL_MS, and on close.
   */
  markRead(asked: string, seq: number): void {
    const group = this.spelled(asked);
    if (seq <= (this.marks.get(group) ?? 0)) return;
    this.marks.set(group, seq);
    this.markTimer ??= setTimeout(() => {
      this.markTimer = undefined;
      this.flushMarks();
    }, MARK_INTERVAL_MS).unref();
  }

  /** Writes the read markers recorded since the last write (markRead), now. */
  flushMarks(): void {
    clearTimeout(this.markTimer);
    this.markTimer = undefined;
    if (this.marks.size === 0) return;
    const marks = new Map(this.marks);
    this.marks.clear();
    this.profile.markRead(marks);
  }

  /**
   * Each joined group's unread count: its last seq (INFO, PROTOCOL.md §6.2, asked of every group
   * server at once, one try of `timeoutMs`) less the read marker. A group whose server does not
   * answer in time has an unknown count.
   */
  async unread(timeoutMs = UNREAD_TIMEOUT_MS): Promise<UnreadCount[]> {
    return Promise.all(
      this.groups().map(async (g): Promise<UnreadCount> => {
        const read = Math.max(g.read ?? 0, this.marks.get(g.name) ?? 0);
        let last: number | undefined;
        try {
          const info = await this.rpc(g.address, g.key).request<{ last?: unknown }>(
            GroupCommand.Info,
            { group: g.name },
            { timeoutMs, tries: 1 },
          );
          if (typeof info.last === "number") last = info.last;
        } catch {
          // Unknown: the server is silent, gone, or not the one the profile knows.
        }
        return { group: g.name, read, last, unread: last === undefined ? undefined : Math.max(0, last - read) };
      }),
    );
  }

  /** Asks where a group's live messages are published (and checks membership). */
  subscribe(asked: string): Promise<Subscription> {
    const group = this.spelled(asked);
    return this.onGroup(group, (rpc) => rpc.request<Subscription>(GroupCommand.Subscribe, { group, user: this.user }));
  }

  /**
   * Follows a group live: `onMessage` gets the requested history, then every new message once,
   * in order, across gaps and reconnects, until `unfollow` or `close`.
   */
  async follow(asked: string, options: FeedOptions): Promise<Feed> {
    const group = this.spelled(asked);
    this.unfollow(group);
    const source: FeedSource = {
      subscribe: () => this.subscribe(group),
      listen: (sub, timeoutMs) => this.listen(feed, sub, timeoutMs),
      page: (query) => this.page(group, query),
      after: (ms, run) => this.beat(group).after(ms, run),
    };
    const feed: Feed = new Feed(source, group, {
      ...options,
      onEvent: (event) => {
        if (event.type === "ended") this.drop(feed);
        options.onEvent?.(event);
      },
    });
    this.followed.set(group, { feed, listening: undefined, leaving: false });
    try {
      await feed.start();
    } catch (err) {
      this.drop(feed);
      throw err;
    }
    return feed;
  }

  /** The beat of the server that hosts `group` now (its address may change: it is looked up each time). */
  private beat(group: string): Beat {
    const endpoint = this.profile.data.groups[group]?.address ?? "";
    let beat = this.beats.get(endpoint);
    if (beat === undefined) {
      beat = new Beat();
      this.beats.set(endpoint, beat);
    }
    return beat;
  }

  /** Whether this client follows `group` (its feed may still be starting). */
  following(group: string): boolean {
    return this.followed.has(this.spelled(group));
  }

  /** Stops following a group. */
  unfollow(group: string): void {
    const followed = this.followed.get(this.spelled(group));
    if (followed === undefined) return;
    followed.feed.stop();
    this.drop(followed.feed);
  }

  /**
   * Ends the following of a group, telling its feed's owner why (an `ended` event), as a LEFT
   * event naming this user does. False if the group was not followed.
   */
  end(group: string, reason: Error): boolean {
    const followed = this.followed.get(group);
    if (followed === undefined) return false;
    followed.feed.end(reason);
    return true;
  }

  /** Forgets a feed that ended or stopped, and its live subscription; not a newer feed of its group. */
  private drop(feed: Feed): void {
    const followed = this.followed.get(feed.group);
    if (followed?.feed !== feed) return;
    this.followed.delete(feed.group);
    this.unlisten(followed);
  }

  /**
   * Receives a feed's live messages from the given events endpoint and topic (moving them if
   * they changed). Resolves true once the publisher confirmed the subscription, false if it did
   * not within `timeoutMs` (ZeroMQ keeps trying to connect) or the feed is no longer followed.
   */
  private listen(feed: Feed, sub: Pick<Subscription, "events" | "topic">, timeoutMs: number): Promise<boolean> {
    const followed = this.followed.get(feed.group);
    if (followed?.feed !== feed) return Promise.resolve(false);
    const current = followed.listening;
    if (current !== undefined && current.stream.endpoint !== sub.events) this.unlisten(followed);
    let stream = this.streams.get(sub.events);
    const security = this.security(this.profile.data.groups[feed.group]?.key, sub.events);
    if (stream !== undefined && stream.serverKey !== security?.serverKey) {
      // Another server (another key) now publishes there: its groups move to a new stream.
      for (const f of this.followed.values()) if (f.listening?.stream === stream) this.unlisten(f);
      stream = this.streams.get(sub.events);
    }
    if (stream === undefined) {
      const created: EventStream = new EventStream(
        sub.events,
        {
          onEvent: (g, kind, body) => this.onEvent(g, kind, body),
          onReconnect: () => {
            for (const f of this.followed.values()) if (f.listening?.stream === created) f.feed.resume();
          },
        },
        security,
      );
      stream = created;
      this.streams.set(sub.events, stream);
    }
    followed.listening = { stream, topic: sub.topic };
    const added = stream.add(sub.topic, feed.group, timeoutMs);
    // A new topic on the same stream (the old one was retired): subscribed to the new one first,
    // so the stream stays open; events still queued on the old one are dropped, history has them.
    if (current !== undefined && current.stream === stream && current.topic !== sub.topic) {
      stream.remove(current.topic);
    }
    return added;
  }

  private unlisten(followed: Followed): void {
    const l = followed.listening;
    if (l === undefined) return;
    followed.listening = undefined;
    l.stream.remove(l.topic);
    if (l.stream.size === 0) {
      this.streams.delete(l.stream.endpoint);
      void l.stream.close();
    }
  }

  private onEvent(group: string, kind: string, body: unknown): void {
    const followed = this.followed.get(group);
    if (followed === undefined) return;
    if (kind === EventKind.Message) {
      followed.feed.receive(body as StoredMessage);
      return;
    }
    if (kind !== EventKind.Left) return;
    if ((body as { user?: unknown }).user !== this.user) {
      // Another member left: the server retired this topic and publishes on a new one from now
      // on (PROTOCOL.md §LEAVE). SUBSCRIBE for it at once; what came meanwhile is in history.
      followed.feed.resume();
    } else if (!followed.leaving) {
      const why =
        (body as { removed?: unknown }).removed === true
          ? "its owner removed you"
          : "you left it from another gm process";
      followed.feed.end(new GmError(ErrorCode.NotMember, `you are not a member of "${group}" any more: ${why}`));
    }
  }

  /** A group server's RPC connection came back: its followed groups check in. */
  private reconnected(endpoint: string): void {
    for (const [group, f] of this.followed) {
      if (this.profile.data.groups[group]?.address === endpoint) f.feed.resume();
    }
  }

  /**
   * Runs a request against a joined group's server. If that server is gone or no longer hosts the
   * group, asks the directory once where the group lives now and retries there.
   */
  private async onGroup<T>(asked: string, call: (rpc: RpcClient) => Promise<T>, options: CallOptions = {}): Promise<T> {
    const group = this.spelled(asked);
    // Another process (a one-shot `gm user join`) may have joined it since this one started.
    let joined = this.profile.data.groups[group] ?? this.profile.refresh().data.groups[group];
    if (joined === undefined) throw notJoined(group);
    if (this.options.security !== undefined && joined.key === undefined) {
      // Joined before gm had keys: learn the server's key from the directory and claim the
      // membership for this profile's key (JOIN with the old id), once.
      const entry = await this.locate(group, false, options);
      await this.joinAt(group, entry, options);
      joined = this.profile.data.groups[group] ?? joined;
    }
    try {
      const rpc = this.rpc(joined.address, joined.key);
      return await this.unlessNotServed(group, rpc, call(rpc));
    } catch (err) {
      // A server that no longer holds the key we know (a new key, or another server at the address)
      // may have re-registered: the directory, whose name bindings are by key, says which key now.
      const moved =
        err instanceof TimeoutError ||
        err instanceof HandshakeError ||
        (err instanceof RemoteError && err.code === ErrorCode.UnknownGroup);
      if (!moved) throw err;
      let entry: GroupEntry;
      try {
        entry = await this.locate(group, true, options);
      } catch (second) {
        if (second instanceof CancelledError) throw second;
        throw err;
      }
      if (entry.address === joined.address && entry.key === joined.key) {
        if (!(err instanceof RemoteError)) throw err; // the same server again: it would fail the same way
        return call(this.rpc(entry.address, entry.key));
      }
      const now = { address: entry.address, ...(entry.key !== undefined && { key: entry.key }) };
      this.profile.update((d) => {
        d.groups[group] = { ...(d.groups[group] ?? joined), ...now };
      });
      return call(this.rpc(entry.address, entry.key));
    }
  }

  /**
   * A group request, failed at once with a NotServedError if nobody serves the group: when no
   * answer came within NOT_SERVED_CHECK_MS, the directory is asked (one short try) meanwhile, and
   * if it does not list the group and the server has no connection up, the request is abandoned.
   * A server that is registered but silent, or connected but slow, is waited for as usual; so is
   * everything when the directory does not answer.
   */
  private unlessNotServed<T>(group: string, rpc: RpcClient, request: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        if (rpc.connected) return;
        void this.listedQuick(group).then((listed) => {
          if (settled || listed !== false || rpc.connected) return;
          settled = true;
          reject(
            new NotServedError(
              group,
              rpc.endpoint,
              `group "${group}" is not being served right now: its server (${rpc.endpoint}) does not answer and ` +
                `the message server (${this.options.server}) does not list it (it stopped). Try again once it is back.`,
            ),
          );
        });
      }, NOT_SERVED_CHECK_MS);
      request.then(
        (value) => {
          clearTimeout(timer);
          if (settled) return;
          settled = true;
          resolve(value);
        },
        (err: unknown) => {
          clearTimeout(timer);
          if (settled) return;
          settled = true;
          reject(err);
        },
      );
    });
  }

  /** Whether the directory lists `group` now (one short try); undefined if it did not answer. */
  private async listedQuick(group: string): Promise<boolean | undefined> {
    try {
      const groups = await this.listQuick();
      return groups.some((g) => groupNameKey(g.name) === groupNameKey(group));
    } catch {
      return undefined;
    }
  }

  /** Writes pending read markers and closes every socket at once; pending requests are abandoned. */
  async close(): Promise<void> {
    try {
      this.flushMarks();
    } catch {
      // A marker not written (the profile locked or unwritable) only shows as unread again;
      // closing must still release every socket.
    }
    for (const group of [...this.followed.keys()]) this.unfollow(group);
    this.beats.clear();
    await Promise.all([...this.streams.values()].map((s) => s.close()));
    this.streams.clear();
    await Promise.all([...this.clients.values()].map((c) => c.close()));
    this.clients.clear();
  }
}

/** The hint for a request that needs membership of `group`. */
const joinFirst = (group: string) => ({ advice: "join it first", remedy: { action: "join", group } }) as const;

/**
 * A group server's NOT_MEMBER for the user's own request (SEND, HISTORY), with the hint to join;
 * any other failure as it is. (An owner's requests get NOT_MEMBER about the member they name.)
 */
function notMember(err: unknown, group: string): unknown {
  return err instanceof RemoteError && err.code === ErrorCode.NotMember ? withHint(err, joinFirst(group)) : err;
}
