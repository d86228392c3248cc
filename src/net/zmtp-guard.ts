/**
 * What keeps a peer from aborting a server process through a libzmq 4.3.5 assertion
 * (`Assertion failed: !_io_error (stream_engine_base.cpp:310)`, libzmq issues #4364 and #4841).
 *
 * When a socket's queue for one connection is full (its receive high-water mark), libzmq stops
 * reading that connection. If the peer then resets it, libzmq marks the connection broken but
 * keeps it until the queue drains. Anything that writes to it meanwhile hits the assertion and
 * the whole process aborts. Two things write there:
 *
 * - a ZMTP heartbeat of the server's own falling due: server sockets send none (clients send
 *   theirs and are answered); TCP keepalive finds a peer that vanished instead;
 * - the answer to a ZMTP `PING` of that peer which libzmq had read from TCP, but not yet decoded,
 *   when it stopped: decoded once the queue drains, it is answered on the broken connection. A
 *   `PING` frame is at least 7 bytes on the wire, and what libzmq holds read but undecoded is
 *   less than one read of at most ZMQ_IN_BATCH_SIZE bytes (longer bodies are read straight into
 *   their message). At 7, a `PING` that follows the message which filled the queue cannot be
 *   whole, so nothing is answered.
 *
 * Both were reproduced against gm's request and events ports (test/e2e/zmtp-abort.test.ts).
 */

/** TCP keepalive on a server socket, instead of ZMTP heartbeats: a vanished peer is dropped within ~8 s. */
export const SERVER_KEEPALIVE = {
  tcpKeepalive: 1,
  tcpKeepaliveIdle: 5,
  tcpKeepaliveInterval: 1,
  tcpKeepaliveCount: 3,
} as const;

/** libzmq's ZMQ_IN_BATCH_SIZE (a draft option; zeromq.js has no property for it). */
export const ZMQ_IN_BATCH_SIZE = 101;
/** The most bytes a server socket reads from a connection at once (see above). */
export const SERVER_IN_BATCH_BYTES = 7;

/**
 * Sets ZMQ_IN_BATCH_SIZE through a socket's own option setter (zeromq.js keeps it protected, so
 * the socket class passes it in). Without the draft API there is no such option, and so no guard.
 */
export function readInSmallBatches(setInt32: (option: number, value: number) => void): boolean {
  try {
    setInt32(ZMQ_IN_BATCH_SIZE, SERVER_IN_BATCH_BYTES);
    return true;
  } catch {
    return false;
  }
}
