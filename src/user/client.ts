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
  RemoteError,
  type StoredMessage,
  type Subscription,
  TimeoutError,
  UsageError,
} from "../protocol/index.js";
import { type Key, type KeyPair, userRefOf } from "../protocol/keys.js";
import { groupName, groupNameKey, messageText } from "../protocol/validate.js";
import { Beat } from "./beat.js";
import { Feed, type FeedOptions, type FeedSource } from "./feed.js";
import type { JoinedGroup, Profile } from "./profile.js";

export interface ClientOptions {
  /** The directory endpoint. */
  readonly server: string;
  readonly timeoutMs?: number;
  readonly tries?: number;
  /** Keep connections watched for reconnects (long-lived clients that follow groups). */
  readonly live?: boolean;
  /**
   * CURVE: the user's keypair (the profile's) and the directory's public key; group servers' keys
   * come from the directory's LIST. Absent: plain text (`--insecure`).
   */
  readonly security?: { readonly keys: KeyPair; readonly serverKey: Key };
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
  /** At most this many: the oldest ones from `since`, or else the newest ones. */
  readonly limit?: number;
}

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
    return this.rpc(this.options.server, this.options.security?.serverKey);
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
    let groups: GroupEntry[];
    if (quick) {
      // A second opinion after a failure: one short try, so the user's wait stays bounded.
      const security = this.security(this.options.security?.serverKey, this.options.server);
      const rpc = new RpcClient(this.options.server, { tries: 1, timeoutMs: 1500, ...(security && { security }) });
      try {
        const list = { user: this.user };
        groups = (await rpc.request<{ groups: GroupEntry[] }>(DirectoryCommand.List, list, options)).groups;
        this.directoryAnswered = true;
      } finally {
        await rpc.close();
      }
    } else {
      groups = await this.listGroups(options);
    }
    const found = groups.find((g) => groupNameKey(g.name) === groupNameKey(group));
    if (found === undefined) {
      throw new GmError(
        ErrorCode.UnknownGroup,
        `no group named "${group}" is registered with ${this.options.server}; \`gm user list-groups\` shows the groups there are`,
      );
    }
    return found;
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
    const reply = await this.rpc(entry.address, entry.key).request<{ members: number; joined: boolean; id: string }>(
      GroupCommand.Join,
      { group, user: this.user, name, ...(legacy !== undefined && { claim: legacy }) },
      options,
    );
    this.profile.update((d) => {
      let joined = d.groups[group]?.joined;
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
      };
    });
    return reply;
  }

  /** Leaves a joined group and forgets it (the original leave_group). */
  async leave(asked: string, options: CallOptions = {}): Promise<{ group: string; members: number }> {
    const group = this.spelled(asked);
    const followed = this.followed.get(group);
    if (followed !== undefined) followed.leaving = true;
    let reply: { members: number };
    try {
      reply = await this.onGroup(
        group,
        (rpc) => rpc.request<{ members: number }>(GroupCommand.Leave, { group, user: this.user }, options),
        options,
      );
    } finally {
      if (followed !== undefined) followed.leaving = false;
    }
    this.unfollow(group);
    this.profile.update((d) => {
      delete d.groups[group];
    });
    return { group, members: reply.members };
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
      // A try may have reached the server before the link or the server failed.
      if (err instanceof TimeoutError) {
        err.message += ` The message may still have been stored: check \`gm user messages ${group}\` before sending it again.`;
      }
      throw err;
    }
  }

  /**
   * The group server keeps the display name it got at JOIN and stamps it on every message: after
   * the profile's name changed (`--display-name`), JOIN again (it updates the name, PROTOCOL.md
   * §JOIN) before the next message goes out under the old one.
   */
  private async renameIn(group: string, options: CallOptions): Promise<void> {
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

  /** Fetches one page of history (the wire's HISTORY, unchanged). */
  page(
    asked: string,
    query: { since?: number; after?: number; before?: number; limit?: number },
    options: CallOptions = {},
  ): Promise<HistoryPage & { last: number }> {
    const group = this.spelled(asked);
    const body = { group, user: this.user, ...query };
    return this.onGroup(
      group,
      (rpc) => rpc.request<HistoryPage & { last: number }>(GroupCommand.History, body, options),
      options,
    );
  }

  /** Messages, oldest first (the original get_messages), following pages until done or `limit`. */
  async messages(group: string, options: MessagesOptions = {}): Promise<StoredMessage[]> {
    const { since, limit } = options;
    const call = { signal: options.signal };
    if (limit !== undefined && since === undefined) {
      // The newest `limit` messages: walk pages backwards from the end.
      const out: StoredMessage[] = [];
      let before = Number.MAX_SAFE_INTEGER;
      while (out.length < limit) {
        const p = await this.page(group, { before, limit: Math.min(Limits.historyPageMax, limit - out.length) }, call);
        out.unshift(...p.messages);
        const first = p.messages[0];
        if (!p.more || first === undefined) break;
        before = first.seq;
      }
      return out;
    }
    const out: StoredMessage[] = [];
    let query: { since?: number; after?: number } = since === undefined ? { after: 0 } : { since };
    for (;;) {
      const want = Math.min(Limits.historyPageMax, limit === undefined ? Limits.historyPageMax : limit - out.length);
      const p = await this.page(group, { ...query, limit: want }, call);
      out.push(...p.messages);
      const lastSeq = p.messages.at(-1)?.seq;
      if (!p.more || lastSeq === undefined || (limit !== undefined && out.length >= limit)) return out;
      query = { after: lastSeq };
    }
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
    if (joined === undefined) {
      throw new GmError(ErrorCode.NotMember, `you have not joined "${group}"; run \`gm user join ${group}\` first`);
    }
    if (this.options.security !== undefined && joined.key === undefined) {
      // Joined before gm had keys: learn the server's key from the directory and claim the
      // membership for this profile's key (JOIN with the old id), once.
      const entry = await this.locate(group, false, options);
      await this.joinAt(group, entry, options);
      joined = this.profile.data.groups[group] ?? joined;
    }
    try {
      return await call(this.rpc(joined.address, joined.key));
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
      const now = { ...joined, address: entry.address, ...(entry.key !== undefined && { key: entry.key }) };
      this.profile.update((d) => {
        d.groups[group] = now;
      });
      return call(this.rpc(entry.address, entry.key));
    }
  }

  /** Closes every socket at once; pending requests are abandoned. */
  async close(): Promise<void> {
    for (const group of [...this.followed.keys()]) this.unfollow(group);
    this.beats.clear();
    await Promise.all([...this.streams.values()].map((s) => s.close()));
    this.streams.clear();
    await Promise.all([...this.clients.values()].map((c) => c.close()));
    this.clients.clear();
  }
}
