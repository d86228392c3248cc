import { randomBytes } from "node:crypto";
import { advertisedEndpoint, eventsBindEndpoint } from "../net/endpoint.js";
import { EventPublisher } from "../net/publisher.js";
import { type Handler, RpcServer, type SignedRequest } from "../net/rpc-server.js";
import {
  ErrorCode,
  EventKind,
  encodeEvent,
  GmError,
  GroupCommand,
  type GroupInfo,
  JsonText,
  Limits,
  type MembersPage,
  ONLINE_WINDOW_MS,
  type StoredMessage,
  SUBSCRIBE_REFRESH_MS,
  Topic,
} from "../protocol/index.js";
import type { Key, KeyPair } from "../protocol/keys.js";
import {
  bool,
  displayName,
  groupName,
  groupNameKey,
  messageId,
  messageText,
  optBool,
  optInt,
  optUuid,
  repeatedGroupName,
  searchWords,
  userRef,
  uuid,
} from "../protocol/validate.js";
import { hexOf } from "../store/admission.js";
import type { GroupStore, HistoryPageJson, StoreFactory, SyncCounts } from "../store/types.js";
import { type Logger, silent } from "../util/log.js";
import { isOnline, membersPage, Presence } from "./members.js";
import { Registrar, type RegistrationState } from "./registrar.js";

export interface GroupServerOptions {
  /** Names of the groups this server hosts (one store each). */
  readonly names: readonly string[];
  /** Where to bind, e.g. tcp://127.0.0.1:6001 or tcp://*:6001. */
  readonly bind: string;
  /** The address to register, when peers must use another one than the bound address. */
  readonly advertise?: string;
  /** Where to bind the events (XPUB) socket; default: the host of `bind`, any free port. */
  readonly events?: string;
  /** The directory to register with; none means run unregistered. */
  readonly directory?: string;
  /**
   * The server's CURVE keypair (both sockets, and towards the directory). Without it the server
   * runs in plain text and takes every request's `user` on trust (`--insecure`).
   */
  readonly keys?: KeyPair;
  /** The directory's public key; needed with `keys` and `directory`. */
  readonly directoryKey?: Key;
  /** Keys refused at the CURVE handshake, on both sockets. */
  readonly deny?: readonly Key[];
  /**
   * The user id of every hosted group's owner (`gm group --owner <key>`): replaces the owner a
   * store holds. Without it a group keeps its owner, or gets one (PROTOCOL.md §6.3).
   */
  readonly owner?: string;
  /**
   * Opens each group's store: sqlite.ts's `sqliteStores(dataDir)` in the commands, memory.ts's
   * `memoryStores()` in handler tests. The server closes each store it opened.
   */
  readonly openStore: StoreFactory;
  /** Per-request log lines (JOIN REQUEST FROM …); `silent` for benchmarks and `--quiet`. */
  readonly log?: Logger;
  /** Lines that are not per request (internal errors, refused handshakes); `log` if not given. */
  readonly serverLog?: Logger;
}

export interface GroupDetails {
  readonly id: string;
  readonly name: string;
  readonly members: number;
  readonly messages: number;
  /** The owner's user id; undefined until the group has one. */
  readonly owner: string | undefined;
  readonly inviteOnly: boolean;
  readonly address: string;
  readonly events: string;
  readonly registration: RegistrationState | { readonly state: "unregistered"; readonly detail: string };
}

/**
 * A group server: hosts one or more groups on one ROUTER endpoint, serves JOIN, LEAVE, SEND,
 * HISTORY, INFO, SUBSCRIBE and MEMBERS for each, publishes each new message once on its events (XPUB)
 * socket, and keeps itself registered with the directory.
 */
export class GroupServer {
  private registrar: Registrar | undefined;
  /** Each group's current topic on the events socket: secret, given only to members. */
  private readonly topics = new Map<string, string>();
  /** The same topics, the only ones the events socket applies a subscription to. */
  private readonly accepted = new Set<string>();
  /** When each member last followed each group (MEMBERS' `online`): in memory only. */
  private readonly presence = new Presence();
  /** Each group's last message's seq and ts, as INFO last read them (its `lastTs`). */
  private readonly lastStamps = new Map<string, { seq: number; ts: number | null }>();
  endpoint = "";
  address = "";
  /** The events endpoint subscribers connect to (advertised form). */
  events = "";

  private readonly publisher: EventPublisher;
  /** Whether requests are signed (a server with keys): moderation needs it. */
  private readonly secure: boolean;

  private constructor(
    private readonly stores: Map<string, GroupStore>,
    private readonly rpc: RpcServer,
    private readonly log: Logger,
    keys?: KeyPair,
    deny: readonly Key[] = [],
  ) {
    this.secure = keys !== undefined;
    // Only a current group topic is ever applied: no other subscription receives anything.
    this.publisher = new EventPublisher({
      accepts: (topic) => this.accepted.has(topic),
      log,
      deny,
      ...(keys !== undefined && { keys }),
    });
    for (const s of stores.values()) this.newTopic(s.name);
  }

  /**
   * Gives a group a fresh secret topic (PROTOCOL.md §SUBSCRIBE): at the start, and after a member
   * left. The old one is retired: no new subscription to it is applied and nothing more is
   * published on it, so a former member still subscribed to it receives nothing after leaving.
   */
  private newTopic(group: string): void {
    const old = this.topics.get(group);
    if (old !== undefined) {
      this.accepted.delete(old);
      this.publisher.retire(old);
    }
    const topic = Topic.groupPrefix + randomBytes(Topic.secretBytes).toString("base64url");
    this.topics.set(group, topic);
    this.accepted.add(topic);
  }

  /** Opens the stores, binds, and registers with the directory (waiting for its first answer). */
  static async start(options: GroupServerOptions): Promise<GroupServer> {
    const log = options.log ?? silent;
    if (options.names.length === 0)
      throw new GmError(ErrorCode.BadRequest, "a group server needs at least one group name");
    for (const name of options.names) groupName({ name }, "name");
    const repeated = repeatedGroupName(options.names);
    if (repeated !== undefined) throw new GmError(ErrorCode.BadRequest, repeated);
    // By the name's case fold (PROTOCOL.md §4); each store keeps the spelling its files have.
    const stores = new Map<string, GroupStore>();
    // A start that fails creates nothing: the stores it made for new groups are removed again.
    const abandon = () => Promise.all([...stores.values()].map((s) => (s.discard ? s.discard() : s.close())));
    try {
      for (const name of options.names) stores.set(groupNameKey(name), await options.openStore(name));
    } catch (err) {
      await abandon();
      throw err;
    }
    try {
      for (const store of stores.values()) await GroupServer.settleOwner(store, options, log);
    } catch (err) {
      await abandon();
      throw err;
    }
    const handlers: Record<string, Handler> = {};
    const deny = options.deny ?? [];
    const rpc = new RpcServer({
      handlers,
      log: options.serverLog ?? log,
      requests: log,
      deny,
      // A page is at most Limits.historyBytes of messages (a search's as a history page's, a
      // members page Limits.membersBytes of entries), and the few fields around them.
      largeReplies: {
        [GroupCommand.History]: Limits.historyBytes + 1024,
        [GroupCommand.Search]: Limits.historyBytes + 1024,
        [GroupCommand.Members]: Limits.membersBytes + 1024,
      },
      ...(options.keys && { keys: options.keys }),
    });
    const server = new GroupServer(stores, rpc, log, options.keys, deny);
    const publisher = server.publisher;
    Object.assign(handlers, server.handlers());
    try {
      server.endpoint = await rpc.listen(options.bind);
      const events = await publisher.listen(options.events ?? eventsBindEndpoint(options.bind));
      server.events = advertisedEndpoint(events, options.advertise, true);
    } catch (err) {
      await rpc.close(0);
      await publisher.close(0);
      await abandon();
      throw err;
    }
    server.address = advertisedEndpoint(server.endpoint, options.advertise);
    if (options.directory !== undefined) {
      server.registrar = new Registrar(
        options.directory,
        server.address,
        [...stores.values()].map((s) => ({ name: s.name, id: s.id, members: () => s.members.size })),
        log,
        undefined,
        options.keys && options.directoryKey ? { keys: options.keys, serverKey: options.directoryKey } : undefined,
      );
      await server.registrar.start();
    }
    return server;
  }

  /**
   * A group's owner at start: `options.owner` if given; else the one it has; else, on a server
   * with keys, its longest-standing member whose id is a key's (a version-8 uuid), so a group
   * made before owners existed does not go to whoever joins next. A group with none of these
   * gets the first user to JOIN (join()).
   */
  private static async settleOwner(store: GroupStore, options: GroupServerOptions, log: Logger): Promise<void> {
    if (options.owner !== undefined) {
      if (store.owner !== options.owner) {
        await store.setOwner(options.owner);
        log(`OWNER OF ${store.name} IS ${options.owner} (--owner)`);
      }
      return;
    }
    if (store.owner !== undefined || options.keys === undefined) return;
    const eldest = [...store.members.values()]
      .filter((m) => m.user[14] === "8")
      .sort((a, b) => a.joined - b.joined || a.user.localeCompare(b.user))[0];
    if (eldest === undefined) return;
    await store.setOwner(eldest.user, true);
    log(`OWNER OF ${store.name} IS ${eldest.user} (its longest-standing member)`);
  }

  /**
   * What the stores' syncs have done since they were opened, summed over the groups (`gm group`
   * prints it on SIGUSR2 with GM_SYNC_COUNTS=1, for the bench); undefined if no store syncs.
   */
  syncCounts(): SyncCounts | undefined {
    let sum: SyncCounts | undefined;
    for (const s of this.stores.values()) {
      const c = s.syncCounts?.();
      if (c === undefined) continue;
      sum = {
        writes: (sum?.writes ?? 0) + c.writes,
        syncs: (sum?.syncs ?? 0) + c.syncs,
        markSyncs: (sum?.markSyncs ?? 0) + c.markSyncs,
      };
    }
    return sum;
  }

  /** What `gm group` prints at start (the original print_group_details). */
  details(): GroupDetails[] {
    return [...this.stores.values()].map((s) => ({
      id: s.id,
      name: s.name,
      members: s.members.size,
      messages: s.durableSeq, // the last seq: the count, but for the gaps of an accepted loss
      owner: s.owner,
      inviteOnly: s.inviteOnly,
      address: this.address,
      events: this.events,
      registration: this.registrar?.status.get(s.name) ?? { state: "unregistered", detail: "no directory given" },
    }));
  }

  private handlers(): Record<string, Handler> {
    return {
      [GroupCommand.Join]: (r) => this.join(r),
      [GroupCommand.Leave]: (r) => this.leave(r),
      [GroupCommand.Send]: (r) => this.send(r),
      [GroupCommand.History]: (r) => this.history(r),
      [GroupCommand.Search]: (r) => this.search(r),
      [GroupCommand.Info]: (r) => this.info(r),
      [GroupCommand.Subscribe]: (r) => this.subscribe(r),
      [GroupCommand.Members]: (r) => this.members(r),
      [GroupCommand.Remove]: (r) => this.remove(r),
      [GroupCommand.Unbar]: (r) => this.unbar(r),
      [GroupCommand.Invite]: (r) => this.invite(r),
      [GroupCommand.Settings]: (r) => this.settings(r),
      [GroupCommand.Ping]: () => ({ role: "group", groups: [...this.stores.values()].map((s) => s.name) }),
    };
  }

  /** The group a request's `group` names, in any case (PROTOCOL.md §6.2). */
  private store(body: Record<string, unknown>): GroupStore {
    const name = groupName(body);
    const store = this.stores.get(groupNameKey(name));
    if (store === undefined) {
      throw new GmError(
        ErrorCode.UnknownGroup,
        `no group "${name}" on this server; it hosts ${[...this.stores.values()].map((s) => `"${s.name}"`).join(", ")}`,
      );
    }
    return store;
  }

  /**
   * The request's user: its `user` field, which must be the user id of the key that signed the
   * request (PROTOCOL.md §12). On an insecure server, whatever the request says.
   */
  private user(request: SignedRequest): string {
    const user = uuid(request.body, "user");
    if (request.peerId !== undefined && request.peerId !== user) {
      throw new GmError(
        ErrorCode.Forbidden,
        `this request is signed by user ${request.peerId}, not by ${user}: a client acts only as the key it holds`,
      );
    }
    return user;
  }

  /**
   * A profile made before gm had keys JOINs with `claim`, its old id: a member of that id who is
   * not a key's id (not a version-8 UUID) is moved to the key that signed the request. Until then
   * the old id is what it always was, a name anyone who knows it may use (PROTOCOL.md §12).
   */
  private async claim(request: SignedRequest, store: GroupStore, user: string): Promise<void> {
    const claim = optUuid(request.body, "claim");
    if (request.peerId === undefined || claim === undefined || claim === user) return;
    if (claim[14] === "8" || !store.members.has(claim)) return;
    await store.leave(claim);
    this.log(`CLAIM OF ${claim} BY ${user}`);
  }

  private member(store: GroupStore, user: string) {
    const m = store.members.get(user);
    if (m === undefined) {
      throw new GmError(ErrorCode.NotMember, `you are not a member of "${store.name}"; join it first`);
    }
    return m;
  }

  /** JOIN (PROTOCOL.md §JOIN), the original add_user. Joining twice is not an error. */
  private async join(request: SignedRequest) {
    const { body } = request;
    const store = this.store(body);
    const user = this.user(request);
    const name = displayName(body);
    this.log(`JOIN REQUEST FROM ${user}`);
    await this.claim(request, store, user);
    // A group without an owner gets the first signed JOIN's user, queued before the join itself
    // so that, of concurrent first joins, the one applied first owns the group.
    const adopt = store.owner === undefined && this.secure ? store.setOwner(user, true) : undefined;
    const { joined, refused } = await store.join(user, name);
    if (adopt !== undefined && (await adopt).owner === user)
      this.log(`OWNER OF ${store.name} IS ${user} (first to join)`);
    if (refused === "barred") {
      throw new GmError(ErrorCode.Forbidden, `the owner of "${store.name}" has barred you (user ${user}) from it`);
    }
    if (refused !== undefined) {
      throw new GmError(
        ErrorCode.Forbidden,
        `"${store.name}" is invite-only and you (user ${user}) are not invited; ask its owner for an invite`,
      );
    }
    return { group: store.name, id: store.id, members: store.members.size, joined, last: store.durableSeq };
  }

  /**
   * LEAVE (PROTOCOL.md §LEAVE), the original remove_user. Leaving a group one is not in succeeds
   * with `left: false`, so a retried LEAVE whose first reply was lost is not an error.
   */
  private async leave(request: SignedRequest) {
    const { body } = request;
    const store = this.store(body);
    const user = this.user(request);
    this.log(`LEAVE REQUEST FROM ${user}`);
    const left = await this.drop(store, user);
    return { group: store.name, members: store.members.size, left };
  }

  /**
   * Ends `user`'s membership, for LEAVE and REMOVE alike: the store's leave, then the LEFT event
   * (`removed` adds `"removed": true` to it). Its write is queued before this returns its promise.
   */
  private async drop(store: GroupStore, user: string, removed = false): Promise<boolean> {
    const { left } = store.members.has(user) ? await store.leave(user) : { left: false };
    if (left) {
      this.presence.forget(store.name, user);
      // The last event on this topic: it tells that user's followers (on any connection) to
      // stop, and the other members to SUBSCRIBE for the new topic.
      this.publish(store.name, EventKind.Left, removed ? { user, removed } : { user });
      this.newTopic(store.name);
    }
    return left;
  }

  /**
   * The request's user if they own the group (PROTOCOL.md §6.3), else FORBIDDEN. Only on a server
   * with keys: on an insecure one any client may claim the owner's id, which every message shows.
   */
  private owner(request: SignedRequest, store: GroupStore, action: string): string {
    if (!this.secure) {
      throw new GmError(
        ErrorCode.Forbidden,
        `moderation needs a group server with keys; this one runs --insecure, where any client may claim any user id`,
      );
    }
    const user = this.user(request);
    if (store.owner !== user) {
      const owner = store.owner === undefined ? "it has no owner yet" : `its owner is ${store.owner}`;
      throw new GmError(ErrorCode.Forbidden, `only the owner of "${store.name}" may ${action}; ${owner}, not ${user}`);
    }
    return user;
  }

  /**
   * The user a `key` field names among `among` (PROTOCOL.md §6.3): a full user id as it is; a
   * fingerprint as the one user of `among` whose id starts with it (none is NOT_MEMBER, several
   * BAD_REQUEST).
   */
  private resolve(
    store: GroupStore,
    body: Record<string, unknown>,
    key: string,
    among: Iterable<string>,
    what: string,
  ) {
    const ref = userRef(body, key);
    if (ref.includes("-")) return ref;
    const matches = [...among].filter((u) => hexOf(u).startsWith(ref)).sort();
    if (matches.length === 1) return matches[0] as string;
    if (matches.length === 0)
      throw new GmError(ErrorCode.NotMember, `no ${what} of "${store.name}" has fingerprint ${ref}`);
    throw new GmError(
      ErrorCode.BadRequest,
      `fingerprint ${ref} is ambiguous in "${store.name}": it matches ${matches.join(", ")}; give more digits or the full user id`,
    );
  }

  /** REMOVE (PROTOCOL.md §REMOVE): the owner ends a membership, as LEAVE would, and may bar the key. */
  private async remove(request: SignedRequest) {
    const { body } = request;
    const store = this.store(body);
    const user = this.owner(request, store, "remove members");
    const bar = optBool(body, "bar") ?? false;
    const member = this.resolve(store, body, "member", store.members.keys(), "member");
    if (member === user) {
      throw new GmError(
        ErrorCode.BadRequest,
        `the owner cannot remove themselves from "${store.name}"; leave the group instead`,
      );
    }
    if (!bar && !store.members.has(member)) {
      throw new GmError(ErrorCode.NotMember, `${member} is not a member of "${store.name}"`);
    }
    this.log(`REMOVE OF ${member} FROM ${store.name} BY ${user}${bar ? " (BARRED)" : ""}`);
    // Both writes queued now, in this order: one batch, so no JOIN slips between them.
    const [left] = await Promise.all([
      this.drop(store, member, true),
      bar ? store.bar(member) : store.uninvite(member),
    ]);
    return { group: store.name, member, left, barred: store.barred.has(member), members: store.members.size };
  }

  /** UNBAR (PROTOCOL.md §UNBAR): the owner lifts a bar. */
  private async unbar(request: SignedRequest) {
    const { body } = request;
    const store = this.store(body);
    const user = this.owner(request, store, "lift bars");
    const member = this.resolve(store, body, "member", store.barred, "barred user");
    this.log(`UNBAR OF ${member} IN ${store.name} BY ${user}`);
    const { unbarred } = await store.unbar(member);
    return { group: store.name, member, unbarred };
  }

  /** INVITE (PROTOCOL.md §INVITE): the owner lets a user (or the first key with a fingerprint) join. */
  private async invite(request: SignedRequest) {
    const { body } = request;
    const store = this.store(body);
    const user = this.owner(request, store, "invite");
    const invitee = userRef(body, "invitee");
    if (store.barred.has(invitee)) {
      throw new GmError(ErrorCode.BadRequest, `${invitee} is barred from "${store.name}"; UNBAR them first`);
    }
    this.log(`INVITE OF ${invitee} TO ${store.name} BY ${user}`);
    const { invited } = await store.invite(invitee);
    return { group: store.name, invitee, invited, inviteOnly: store.inviteOnly };
  }

  /** SETTINGS (PROTOCOL.md §SETTINGS): the owner makes the group invite-only or open. */
  private async settings(request: SignedRequest) {
    const { body } = request;
    const store = this.store(body);
    const user = this.owner(request, store, "change its settings");
    const inviteOnly = bool(body, "inviteOnly");
    this.log(`SETTINGS OF ${store.name} BY ${user}: inviteOnly ${inviteOnly}`);
    const { changed } = await store.setInviteOnly(inviteOnly);
    return { group: store.name, owner: store.owner, inviteOnly: store.inviteOnly, changed };
  }

  /** SEND (PROTOCOL.md §SEND), the original add_message: durable before the reply, idempotent by id. */
  private async send(request: SignedRequest) {
    const { body } = request;
    const store = this.store(body);
    const user = this.user(request);
    const id = messageId(body, "id");
    const text = messageText(body);
    this.log(`MESSAGE SEND FROM ${user}`);
    const member = this.member(store, user);
    const result = await store.append({ id, user, name: member.name, text });
    if (!result.duplicate) {
      const message: StoredMessage = { seq: result.seq, ts: result.ts, id, user, name: member.name, text };
      this.publish(store.name, EventKind.Message, message);
    }
    return result;
  }

  /** Publishes an event once; ZeroMQ copies it to every subscriber of the group's topic. */
  private publish(group: string, kind: string, body: unknown): void {
    const topic = this.topic(group);
    if (!this.publisher.wanted(topic)) return;
    this.publisher.publish(encodeEvent(topic, kind, body));
  }

  private topic(group: string): string {
    return this.topics.get(group) as string;
  }

  /** HISTORY (PROTOCOL.md §HISTORY), the original get_messages: oldest first, paged. */
  private history(request: SignedRequest) {
    const { body } = request;
    const store = this.store(body);
    const user = this.user(request);
    this.log(`MESSAGE REQUEST FROM ${user}`);
    this.member(store, user);
    const after = optInt(body, "after", 0, Number.MAX_SAFE_INTEGER);
    const before = optInt(body, "before", 1, Number.MAX_SAFE_INTEGER);
    if (after !== undefined && before !== undefined) {
      throw new GmError(ErrorCode.BadRequest, `give at most one of "after" and "before"`);
    }
    const limit = optInt(body, "limit", 1, Limits.historyPageMax) ?? Limits.historyPage;
    const page = store.historyJson({
      limit,
      ...timeBounds(body),
      ...(after !== undefined && { after }),
      ...(before !== undefined && { before }),
    });
    return pageReply(store, page);
  }

  /** SEARCH (PROTOCOL.md §SEARCH): messages holding every word of a query, newest first, paged. */
  private search(request: SignedRequest) {
    const { body } = request;
    const store = this.store(body);
    const user = this.user(request);
    this.log(`SEARCH REQUEST FROM ${user}`);
    this.member(store, user);
    const words = searchWords(body);
    const before = optInt(body, "before", 1, Number.MAX_SAFE_INTEGER);
    const limit = optInt(body, "limit", 1, Limits.historyPageMax) ?? Limits.historyPage;
    const page = store.searchJson({ words, limit, ...timeBounds(body), ...(before !== undefined && { before }) });
    return pageReply(store, page);
  }

  /** INFO (PROTOCOL.md §INFO), the original get_details. */
  private info({ body }: SignedRequest): GroupInfo {
    const store = this.store(body);
    return {
      id: store.id,
      name: store.name,
      created: store.createdAt,
      members: store.members.size,
      last: store.durableSeq,
      lastTs: this.lastTs(store),
      address: this.address,
      events: this.events,
      owner: store.owner ?? null,
      inviteOnly: store.inviteOnly,
    };
  }

  /**
   * The server time of the group's newest message (null for none), read from the store once per
   * new last seq: INFO needs no membership, so a stream of them costs one read, not one each.
   */
  private lastTs(store: GroupStore): number | null {
    const seq = store.durableSeq;
    const known = this.lastStamps.get(store.name);
    if (known?.seq === seq) return known.ts;
    // The newest stored message (below a gap of an accepted loss, if the last seq is in one).
    const page = JSON.parse(store.historyJson({ before: seq + 1, limit: 1 }).messages) as StoredMessage[];
    const ts = page[0]?.ts ?? null;
    this.lastStamps.set(store.name, { seq, ts });
    return ts;
  }

  /**
   * MEMBERS (PROTOCOL.md §MEMBERS): who is in the group, and who followed it (SUBSCRIBE) within
   * ONLINE_WINDOW_MS; for its members and its owner only, paged by user id.
   */
  private members(request: SignedRequest): MembersPage {
    const { body } = request;
    const store = this.store(body);
    const user = this.user(request);
    if (!(this.secure && store.owner === user)) this.member(store, user);
    const after = optUuid(body, "after");
    const limit = optInt(body, "limit", 1, Limits.membersPageMax) ?? Limits.membersPage;
    const now = Date.now();
    const page = membersPage(
      store.members,
      (m) => {
        const age = this.presence.age(store.name, m.user);
        return {
          user: m.user,
          name: m.name,
          joined: m.joined,
          online: isOnline(age),
          seen: age === undefined ? null : Math.round(now - age),
        };
      },
      { limit, ...(after !== undefined && { after }) },
    );
    return {
      group: store.name,
      members: page.entries,
      more: page.more,
      count: store.members.size,
      owner: store.owner ?? null,
      window: ONLINE_WINDOW_MS,
    };
  }

  /**
   * SUBSCRIBE (PROTOCOL.md §SUBSCRIBE): where a member receives the group's live messages (the
   * events endpoint and the group's topic) and how far history reaches. The only state kept is
   * when the member last asked (MEMBERS' `online`), in memory.
   */
  private subscribe(request: SignedRequest) {
    const { body } = request;
    const store = this.store(body);
    const user = this.user(request);
    this.member(store, user);
    this.presence.followed(store.name, user, store.members);
    return {
      group: store.name,
      events: this.events,
      topic: this.topic(store.name),
      last: store.durableSeq,
      refresh: SUBSCRIBE_REFRESH_MS,
    };
  }

  /** Stops taking requests, answers those in flight, deregisters, flushes and closes the stores. */
  async close(): Promise<void> {
    await this.rpc.close();
    await this.publisher.close();
    await this.registrar?.stop();
    await Promise.all([...this.stores.values()].map((s) => s.close()));
  }
}

/** A HISTORY or SEARCH request's time bounds, `since` and `until` (UTC ms), those given. */
function timeBounds(body: Record<string, unknown>): { since?: number; until?: number } {
  const since = optInt(body, "since", 0, Number.MAX_SAFE_INTEGER);
  const until = optInt(body, "until", 0, Number.MAX_SAFE_INTEGER);
  return { ...(since !== undefined && { since }), ...(until !== undefined && { until }) };
}

/** A page's reply, {group, messages, more, last}, with the messages as the store wrote them. */
function pageReply(store: GroupStore, page: HistoryPageJson): JsonText {
  return new JsonText(
    `{"group":${JSON.stringify(store.name)},"messages":${page.messages},"more":${page.more},"last":${store.durableSeq}}`,
  );
}
