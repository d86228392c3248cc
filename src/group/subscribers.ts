/** How long a subscription lasts without a refresh; clients refresh at a third of it. */
export const SUBSCRIPTION_TTL_MS = 15_000;

interface Subscriber {
  readonly routingId: Buffer;
  readonly user: string;
  expires: number;
}

/**
 * Who receives a group's live messages: one entry per (connection, group), soft state that the
 * client refreshes. Memory is bounded by the live connections; ZeroMQ's send high-water mark bounds
 * what queues for each of them (beyond it messages are dropped and the client fills the gap from
 * history, seeing the jump in sequence numbers).
 */
export class Subscribers {
  private readonly byGroup = new Map<string, Map<string, Subscriber>>();

  add(group: string, routingId: Buffer, user: string, now: number): void {
    let subs = this.byGroup.get(group);
    if (subs === undefined) {
      subs = new Map();
      this.byGroup.set(group, subs);
    }
    subs.set(routingId.toString("hex"), { routingId, user, expires: now + SUBSCRIPTION_TTL_MS });
  }

  remove(group: string, routingId: Buffer): void {
    this.byGroup.get(group)?.delete(routingId.toString("hex"));
  }

  /** Drops every subscription of a user in a group (the user left). */
  removeUser(group: string, user: string): void {
    const subs = this.byGroup.get(group);
    if (subs === undefined) return;
    for (const [key, s] of subs) if (s.user === user) subs.delete(key);
  }

  /** Routing ids of live subscribers of a group, expiring stale ones on the way. */
  *targets(group: string, now: number): Iterable<Buffer> {
    const subs = this.byGroup.get(group);
    if (subs === undefined) return;
    for (const [key, s] of subs) {
      if (s.expires < now) subs.delete(key);
      else yield s.routingId;
    }
  }

  count(group: string): number {
    return this.byGroup.get(group)?.size ?? 0;
  }
}
