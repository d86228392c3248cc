/**
 * Timing that both ends of a connection rely on (docs/PROTOCOL.md §8): how often group servers
 * refresh their registration and when the directory forgets them, how often a follower checks in,
 * how long a client waits for a reply, and the ZMTP heartbeats every gm socket uses.
 */

/** Group servers refresh their registration this often (the heartbeat of the directory). */
export const REGISTER_INTERVAL_MS = 1000;
/** The directory drops a registration not refreshed for this long. */
export const REGISTRATION_TTL_MS = 5000;
/**
 * A secure directory's binding of a group name to a key lapses this many days after the name was
 * last registered (PROTOCOL.md §12.6; `gm server --name-lapse-days`).
 */
export const NAME_LAPSE_DAYS = 30;
/** A follower repeats SUBSCRIBE this often, to catch up on anything it may have missed. */
export const SUBSCRIBE_REFRESH_MS = 5000;
/**
 * A member is online (MEMBERS, PROTOCOL.md §MEMBERS) while their last SUBSCRIBE is at most this
 * old: two refresh periods, so one late or lost refresh does not make a follower look gone.
 */
export const ONLINE_WINDOW_MS = 2 * SUBSCRIBE_REFRESH_MS;

/** Defaults from the ZeroMQ guide's Lazy Pirate numbers: 2.5 s a try, 3 tries. */
export const REQUEST_TIMEOUT_MS = 2500;
export const REQUEST_TRIES = 3;

/** After a `300` reply (SHUTTING_DOWN), the wait before the next try: a restart is quick. */
export const TRY_AGAIN_WAIT_MS = 250;
/**
 * After a `300` that says the server lacks room (`STORAGE_FULL`: its disk; `BUSY`: its memory for
 * replies that clients have not read), the wait before the next try: the first, doubled after each
 * further one up to the cap (1 s, 2 s, 4 s, …). Room takes longer to make than a restart.
 */
export const NO_ROOM_WAIT_MS = 1000;
export const NO_ROOM_WAIT_MAX_MS = 8000;

/**
 * ZMTP heartbeats (RFC 37 PING/PONG) on every gm socket: a peer that vanished without closing
 * (host down, link cut) is noticed in seconds, its queues freed, and a client socket reconnects,
 * instead of waiting for TCP to give up.
 */
export const HEARTBEAT = { heartbeatInterval: 1000, heartbeatTimeout: 3000 } as const;
