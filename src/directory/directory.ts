import type { Handler } from "../net/rpc-server.js";
import {
  DirectoryCommand,
  ErrorCode,
  GmError,
  type GroupEntry,
  REGISTER_INTERVAL_MS,
  REGISTRATION_TTL_MS,
  type Request,
} from "../protocol/index.js";
import { endpoint, groupName, optInt, optStr, uuid } from "../protocol/validate.js";
import { type Logger, silent } from "../util/log.js";

interface Registration {
  name: string;
  id: string;
  address: string;
  members: number;
  seen: number;
}

/**
 * The message server's state: which groups exist and where. Registrations are soft state: a group
 * server refreshes its own every interval, and one not refreshed within the TTL is dropped, so a
 * restarted directory is repopulated by the next round of refreshes.
 */
export class Directory {
  private readonly groups = new Map<string, Registration>();

  constructor(
    private readonly log: Logger = silent,
    private readonly ttlMs = REGISTRATION_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  readonly handlers: Readonly<Record<string, Handler>> = {
    [DirectoryCommand.Register]: (r) => this.register(r),
    [DirectoryCommand.Unregister]: (r) => this.unregister(r),
    [DirectoryCommand.List]: (r) => this.list(r),
    [DirectoryCommand.Ping]: () => ({ role: "directory", groups: this.live().length }),
  };

  /** REGISTER (PROTOCOL.md §REGISTER): add or refresh a group; a name held elsewhere is refused. */
  private register({ body }: Request): { interval: number; ttl: number } {
    const name = groupName(body, "name");
    const id = uuid(body, "id");
    const address = endpoint(body, "address");
    const members = optInt(body, "members", 0, Number.MAX_SAFE_INTEGER) ?? 0;
    const now = this.now();
    const current = this.groups.get(name);
    const alive = current !== undefined && now - current.seen <= this.ttlMs;
    if (alive && current.address !== address) {
      throw new GmError(
        ErrorCode.NameTaken,
        `a group named "${name}" is already registered from ${current.address}; choose another name`,
      );
    }
    if (!alive || current.id !== id) this.log(`JOIN REQUEST FROM ${address} (group "${name}")`);
    this.groups.set(name, { name, id, address, members, seen: now });
    return { interval: REGISTER_INTERVAL_MS, ttl: this.ttlMs };
  }

  /** UNREGISTER (PROTOCOL.md §UNREGISTER): a group server going away says so. */
  private unregister({ body }: Request): { removed: boolean } {
    const name = groupName(body, "name");
    const address = endpoint(body, "address");
    const current = this.groups.get(name);
    if (current === undefined || current.address !== address) return { removed: false };
    this.groups.delete(name);
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
    for (const [name, g] of this.groups) {
      if (now - g.seen > this.ttlMs) {
        this.groups.delete(name);
        this.log(`DROPPED GROUP "${name}" at ${g.address}: no refresh for ${now - g.seen} ms`);
        continue;
      }
      out.push({ name: g.name, id: g.id, address: g.address, members: g.members, age: now - g.seen });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }
}
