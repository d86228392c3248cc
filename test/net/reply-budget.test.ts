/**
 * The reply budget of RpcServer (PROTOCOL.md §4): replies that may sit unread in ZeroMQ are
 * counted per peer (the last ones it was sent) and per user, and a large reply that would pass the
 * user's share or the total gets `300 BUSY` instead. Real sockets: the "attacker" is a DEALER that
 * asks for large replies and never reads them, so its queue in the server fills for real.
 */
import assert from "node:assert/strict";
import { describe, type TestContext, test } from "node:test";
import * as zmq from "zeromq";
import { RpcClient } from "../../src/net/rpc-client.js";
import { RpcServer } from "../../src/net/rpc-server.js";
import { encodeRequest } from "../../src/protocol/codec.js";
import { ErrorCode, Status } from "../../src/protocol/constants.js";
import { RemoteError } from "../../src/protocol/errors.js";

const LOOPBACK = "tcp://127.0.0.1:*";
/** A reply the size of a full history page. */
const PAGE = 120 * 1024;
const MIB = 1024 * 1024;

async function startServer(t: TestContext, budget: { totalBytes: number; shareBytes: number }) {
  const log: string[] = [];
  const server = new RpcServer({
    handlers: { PAGE: () => ({ pad: "x".repeat(PAGE) }), PING: () => ({}) },
    largeReplies: { PAGE: PAGE + 1024 },
    replyBudget: budget,
    log: (line) => log.push(line),
  });
  const endpoint = await server.listen(LOOPBACK);
  t.after(() => server.close(100));
  return { endpoint, log };
}

/** A client of `user` with one try per request (so a BUSY is seen, not waited out). */
function client(t: TestContext, endpoint: string, user: string) {
  const c = new RpcClient(endpoint, { timeoutMs: 5000, tries: 1 });
  t.after(() => c.close());
  return { page: () => c.request("PAGE", { user }), ping: () => c.request("PING", { user }) };
}

/** Connections of `user` that ask for pages until the server answers BUSY, and never read. */
async function flood(t: TestContext, endpoint: string, user: string, connections: number, log: string[]) {
  const sockets = Array.from({ length: connections }, () => {
    const s = new zmq.Dealer({ linger: 0, receiveHighWaterMark: 1 });
    s.connect(endpoint);
    return s;
  });
  t.after(() => {
    for (const s of sockets) s.close();
  });
  const deadline = Date.now() + 20_000;
  let i = 0;
  while (!log.some((l) => l.includes("answered BUSY"))) {
    assert.ok(Date.now() < deadline, "the server never answered BUSY");
    await Promise.all(sockets.map((s, c) => s.send(encodeRequest("PAGE", `f${c}-${i}`, { user }))));
    i++;
    await new Promise((r) => setTimeout(r, 2));
  }
  return sockets;
}

async function busy(request: Promise<unknown>): Promise<RemoteError> {
  const err = await request.then(
    () => assert.fail("expected 300 BUSY"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof RemoteError, String(err));
  assert.equal(err.code, ErrorCode.Busy);
  assert.equal(err.status, Status.TryAgain);
  return err;
}

/** Retries `request` until it succeeds or `ms` pass (the count of a peer that left is freed soon after). */
async function eventually<T>(request: () => Promise<T>, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await request();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe("the reply budget", () => {
  test("a user whose unread replies fill its share gets BUSY for pages, others are served; it ends when its connections go", async (t) => {
    // A share above what one full queue holds (17 pages), so BUSY comes once queues are full.
    const { endpoint, log } = await startServer(t, { totalBytes: 64 * MIB, shareBytes: 4 * MIB });
    const sockets = await flood(t, endpoint, "mallory", 3, log);
    assert.ok(
      log.some((l) => l.includes("fill its 4 MiB share")),
      log.join("\n"),
    );

    const mallory = client(t, endpoint, "mallory");
    const err = await busy(mallory.page());
    assert.match(err.message, /the server is busy: .* share .*\(4 MiB\); try again shortly/);
    await mallory.ping(); // small replies always go
    await client(t, endpoint, "alice").page(); // another user's share is untouched

    for (const s of sockets) s.close();
    await eventually(() => mallory.page());
  });

  test("when all users' unread replies fill the total, everyone gets BUSY for pages until they go", async (t) => {
    const { endpoint, log } = await startServer(t, { totalBytes: 4 * MIB, shareBytes: 4 * MIB });
    const sockets = await flood(t, endpoint, "mallory", 3, log);
    const alice = client(t, endpoint, "alice");
    const err = await busy(alice.page());
    assert.match(
      err.message,
      /the server is busy: replies that clients have not read yet fill its memory for them \(4 MiB\)/,
    );
    for (const s of sockets) s.close();
    await eventually(() => alice.page());
  });

  test("an empty message, which a disconnection notice looks like, frees nothing of a peer still there", async (t) => {
    const { endpoint, log } = await startServer(t, { totalBytes: 64 * MIB, shareBytes: 4 * MIB });
    const sockets = await flood(t, endpoint, "mallory", 3, log);
    const mallory = client(t, endpoint, "mallory");
    await busy(mallory.page());
    // Each flooding peer claims to have gone; none has, and their queues are as full as before.
    for (const s of sockets) await s.send("");
    await new Promise((r) => setTimeout(r, 300));
    await busy(mallory.page());
    // It answers them as any empty message, and the answer waits behind the full queue.
    assert.equal(log.filter((l) => l.includes("malformed")).length, 0, "disconnection notices are not logged");
  });
});
