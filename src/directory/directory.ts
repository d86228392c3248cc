import type { Handler, SignedRequest } from "../net/rpc-server.js";
import { keyFingerprint } from "../net/security.js";
import {
  DirectoryCommand,
  ErrorCode,
  GmError,
  type GroupEntry,
  Limits,
  REGISTER_INTERVAL_MS,
  REGISTRATION_TTL_MS,
  type Request,
} from "../protocol/index.js";
import type { Key } from "../protocol/keys.js";
import { endpoint, groupName, groupNameKey, optInt, optStr, uuid } from "../protocol/validate.js";
import { type Logger, silent } from "../util/log.js";
import { LogLimiter } from "../util/log-limiter.js";
import { NameBindings } from "./names.js";

interface Registration {
  name: string;
  id: string;
  address: string;
  members: number;
  seen: number;
  /** The registering group server's key (secure directories only). */
  key?: Key;
}

export interface DirectoryOptions {
  readonly log?: Logger;
  readonly ttlMs?: number;
  readonly now?: () => number;
  /** Group names and the keys they belong to (PROTOCOL.md §12); in memory if not given. */
  readonly names?: NameBindings;
  /** If given, only group servers with one of these keys may register. */
  readonly allowedKeys?: ReadonlySet<Key>;
  /** Caps on live registrations, in all and per key (Limits.directoryGroups, …PerKey). */
  readonly maxGroups?: number;
  readonly maxGroupsPerKey?: number;
}

/**
 * The message server's state: which groups exist and where. Registrations are soft state: a group
 * server refreshes its own every interval, and one not refreshed within the TTL is dropped, so a
 * restarted directory is repopulated by the next round of refreshes.
 */
export class Directory {
  /** Live registrations by their name's case fold (PROTOCOL.md §4: `general` and `GENERAL` are one name). */
  private readonly groups = new Map<string, Registration>();
  private readonly log: Logger;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly names: NameBindings;
  private readonly allowedKeys: ReadonlySet<Key> | undefined;
  private readonly maxGroups: number;
  private readonly maxGroupsPerKey: number;
  /** Registrations held by each key, for the per-key cap. */
  private readonly perKey = new Map<Key, number>();
  /** Refusals at the caps, logged at a bounded rate. */
  private readonly limits: LogLimiter;

  constructor(options: DirectoryOptions = {}) {
    this.log = options.log ?? silent;
    this.ttlMs = options.ttlMs ?? REGISTRATION_TTL_MS;
    // Liveness is a duration: measured on the monotonic clock, so a wall clock set back (or ahead)
    // neither keeps a dead group listed, and its name taken, nor drops every live one.
    this.now = options.now ?? (() => Math.floor(performance.now()));
    this.names = options.names ?? new NameBindings();
    this.allowedKeys = options.allowedKeys;
    this.maxGroups = options.maxGroups ?? Limits.directoryGroups;
    this.maxGroupsPerKey = options.maxGroupsPerKey ?? Limits.directoryGroupsPerKey;
    this.limits = new LogLimiter(this.log);
  }

  readonly handlers: Readonly<Record<string, Handler>> = {
    [DirectoryCommand.Register]: (r) => this.register(r),
    [DirectoryCommand.Unregister]: (r) => this.unregister(r),
    [DirectoryCommand.List]: (r) => this.list(r),
    [DirectoryCommand.Ping]: () => ({ role: "directory", groups: this.live().length }),
  };

  /** REGISTER (PROTOCOL.md §REGISTER): add or refresh a group; a name held elsewhere is refused. */
  private register({ body, peer }: SignedRequest): { interval: number; ttl: number } {
    const name = groupName(body, "name");
    const id = uuid(body, "id");
    const address = endpoint(body, "address");
    const members = optInt(body, "members", 0, Number.MAX_SAFE_INTEGER) ?? 0;
    if (peer !== undefined) this.checkOwner(name, peer, "register");
    const now = this.now();
    const current = this.groups.get(groupNameKey(name));
    const alive = current !== undefined && now - current.seen <= this.ttlMs;
    if (alive && current.address !== address) {
      const as = current.name === name ? "" : ` as "${current.name}" (names that differ only in case are one name)`;
      throw new GmError(
        ErrorCode.NameTaken,
        `a group named "${name}" is already registered from ${current.address}${as}; choose another name`,
      );
    }
    if (current === undefined || !alive) this.checkCaps(name, peer);
    const unbound = peer !== undefined && this.names.get(name) === undefined;
    if (unbound) this.checkBindingsCap(name);
    if (!alive || current.id !== id) this.log(`JOIN REQUEST FROM ${address} (group "${name}")`);
    if (peer !== undefined && unbound) {
      this.names.bind(name, peer);
      this.log(`BOUND GROUP NAME "${name}" to key ${keyFingerprint(peer)}`);
    } else if (peer !== undefined) this.names.refresh(name);
    const replaced = this.groups.get(groupNameKey(name)); // checkCaps may have swept an expired `current`
    if (replaced !== undefined) this.forget(replaced);
    this.groups.set(groupNameKey(name), {
      name,
      id,
      address,
      members,
      seen: now,
      ...(peer !== undefined && { key: peer }),
    });
    if (peer !== undefined) this.perKey.set(peer, (this.perKey.get(peer) ?? 0) + 1);
    return { interval: REGISTER_INTERVAL_MS, ttl: this.ttlMs };
  }

  /**
   * Refuses a new registration beyond the caps (PROTOCOL.md §4): so many in all, so many per
   * group server key. Expired registrations are swept first, so only live ones count.
   */
  private checkCaps(name: string, peer: Key | undefined): void {
    if (this.groups.size >= this.maxGroups) this.live();
    if (this.groups.size >= this.maxGroups) {
      this.limits.line("registrations refused at the cap", `REFUSED REGISTER of "${name}": ${this.maxGroups} groups`);
      throw new GmError(
        ErrorCode.TooManyGroups,
        `this directory holds ${this.maxGroups} groups, its limit; "${name}" can register when one goes away`,
      );
    }
    if (peer === undefined || (this.perKey.get(peer) ?? 0) < this.maxGroupsPerKey) return;
    this.live();
    if ((this.perKey.get(peer) ?? 0) < this.maxGroupsPerKey) return;
    this.limits.line(
      "registrations refused at the per-key cap",
      `REFUSED REGISTER of "${name}" by key ${keyFingerprint(peer)}: ${this.maxGroupsPerKey} groups from that key`,
    );
    throw new GmError(
      ErrorCode.TooManyGroups,
      `key ${keyFingerprint(peer)} already has ${this.maxGroupsPerKey} groups registered here, the limit for one group server`,
    );
  }

  /**
   * Refuses a name not bound yet when the directory holds as many unlapsed name bindings as it
   * may (PROTOCOL.md §4, §12.6), so the bindings file stays bounded.
   */
  private checkBindingsCap(name: string): void {
    if (this.names.hasRoom()) return;
    this.limits.line(
      "registrations refused at the name bindings cap",
      `REFUSED REGISTER of "${name}": ${this.names.max} name bindings`,
    );
    throw new GmError(
      ErrorCode.TooManyGroups,
      `this directory holds ${this.names.max} group name bindings, its limit; "${name}" can register when one lapses or is released`,
    );
  }

  /** Takes a registration out of the per-key count (it is being replaced or dropped). */
  private forget(g: Registration): void {
    if (g.key === undefined) return;
    const n = (this.perKey.get(g.key) ?? 1) - 1;
    if (n <= 0) this.perKey.delete(g.key);
    else this.perKey.set(g.key, n);
  }

  /**
   * A secure directory binds each name to the first key that registered it: another key may not
   * register or unregister it while the binding lasts, and with an allow-list only listed keys
   * register at all. Throws FORBIDDEN.
   */
  private checkOwner(name: string, key: Key, action: string): void {
    if (this.allowedKeys !== undefined && !this.allowedKeys.has(key)) {
      this.log(
        `REFUSED ${action.toUpperCase()} of "${name}" by key ${keyFingerprint(key)}: not an allowed group server`,
      );
      throw new GmError(
        ErrorCode.Forbidden,
        `this directory takes registrations only from its allowed group server keys; ${keyFingerprint(key)} is not one`,
      );
    }
    const owner = this.names.get(name);
    if (owner !== undefined && owner !== key) {
      const bound = this.names.spelling(name) ?? name;
      const as = bound === name ? "" : ` (bound as "${bound}"; names that differ only in case are one name)`;
      this.log(
        `REFUSED ${action.toUpperCase()} of "${name}" by key ${keyFingerprint(key)}: bound to ${keyFingerprint(owner)}${bound === name ? "" : ` as "${bound}"`}`,
      );
      throw new GmError(
        ErrorCode.Forbidden,
        `the group name "${name}"${as} belongs to another group server's key (${keyFingerprint(owner)}); ` +
          "the directory's operator can release it (gm server --release)",
      );
    }
  }

  /** UNREGISTER (PROTOCOL.md §UNREGISTER): a group server going away says so. */
  private unregister({ body, peer }: SignedRequest): { removed: boolean } {
    const name = groupName(body, "name");
    const address = endpoint(body, "address");
    if (peer !== undefined) this.checkOwner(name, peer, "unregister");
    const current = this.groups.get(groupNameKey(name));
    if (current === undefined || current.address !== address) return { removed: false };
    this.groups.delete(groupNameKey(name));
    this.forget(current);
    this.log(`LEAVE REQUEST FROM ${address} (group "${name}")`);
    return { removed: true };
  }

  /** LIST (PROTOCOL.md §LIST): every live group, sorted by name. */
  private list({ body }: Request): { groups: GroupEntry[] } {
    const user = optStr(body, "user", 64) ?? "anonymous";
    this.log(`GROUP LIST REQUEST FROM ${user}`);
    return { groups: this.live() };
  }

  /**
   * Drops expired registrations every `intervalMs` (not only when someone lists), so the log says
   * when a group server died. Returns the function that stops it.
   */
  sweepEvery(intervalMs = REGISTER_INTERVAL_MS): () => void {
    const timer = setInterval(() => this.live(), intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  private live(): GroupEntry[] {
    const now = this.now();
    const out: GroupEntry[] = [];
    for (const [key, g] of this.groups) {
      if (now - g.seen > this.ttlMs) {
        this.groups.delete(key);
        this.forget(g);
        this.log(`DROPPED GROUP "${g.name}" at ${g.address}: no refresh for ${now - g.seen} ms`);
        continue;
      }
      out.push({
        name: g.name,
        id: g.id,
        address: g.address,
        members: g.members,
        age: now - g.seen,
        ...(g.key !== undefined && { key: g.key }),
      });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }
}
