import assert from "node:assert/strict";
import { describe, type TestContext, test } from "node:test";
import * as zmq from "zeromq";
import { Exit, exitCode, failureText } from "../../src/cli/errors.js";
import { RpcClient, type RpcClientOptions } from "../../src/net/rpc-client.js";
import { type Handler, RpcServer } from "../../src/net/rpc-server.js";
import { decodeRequest, encodeReply } from "../../src/protocol/codec.js";
import { ErrorCode, SIGNATURE, Status } from "../../src/protocol/constants.js";
import { CancelledError, EndpointError, GmError, RemoteError, TimeoutError } from "../../src/protocol/errors.js";

const LOOPBACK = "tcp://127.0.0.1:*";

/** A promise with its resolver, to let a test decide when a handler answers. */
function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    open = r;
  });
  return { promise, open };
}

async function startServer(t: TestContext, handlers: Record<string, Handler>, log: string[] = []) {
  const server = new RpcServer({ handlers, log: (line) => log.push(line) });
  const endpoint = await server.listen(LOOPBACK);
  t.after(() => server.close(100));
  return { server, endpoint, log };
}

function client(t: TestContext, endpoint: string, options: RpcClientOptions = {}): RpcClient {
  const c = new RpcClient(endpoint, { timeoutMs: 2000, tries: 1, ...options });
  t.after(() => c.close());
  return c;
}

/** An endpoint on which nothing listens: bind an ephemeral port, then let it go. */
async function deadEndpoint(): Promise<string> {
  const s = new zmq.Router({ linger: 0 });
  await s.bind(LOOPBACK);
  const endpoint = s.lastEndpoint as string;
  s.close();
  return endpoint;
}

const echo: Record<string, Handler> = {
  ECHO: (r) => ({ got: r.body }),
  ASYNC: async (r) => {
    await new Promise(setImmediate);
    return { later: r.body };
  },
};

describe("RpcServer + RpcClient", () => {
  test("listen binds an ephemeral port and returns the real endpoint", async (t) => {
    const { endpoint } = await startServer(t, echo);
    assert.match(endpoint, /^tcp:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(endpoint, LOOPBACK);
    const zero = new RpcServer({ handlers: echo });
    t.after(() => zero.close(0));
    assert.match(await zero.listen("tcp://127.0.0.1:0"), /^tcp:\/\/127\.0\.0\.1:\d+$/);
  });

  test("listening on an address in use fails with an EndpointError", async (t) => {
    const { endpoint } = await startServer(t, echo);
    const second = new RpcServer({ handlers: echo });
    await assert.rejects(second.listen(endpoint), (err: unknown) => {
      assert.ok(err instanceof EndpointError);
      assert.match(err.message, new RegExp(`cannot listen on ${endpoint}: the address is already in use`));
      return true;
    });
    await second.close(0);
  });

  test("request and reply, sync and async handlers", async (t) => {
    const { endpoint } = await startServer(t, echo);
    const c = client(t, endpoint);
    assert.deepEqual(await c.request("ECHO", { a: 1, s: "é😀" }), { got: { a: 1, s: "é😀" } });
    assert.deepEqual(await c.request("ASYNC", { b: [1, 2] }), { later: { b: [1, 2] } });
    assert.equal(c.inFlight, 0);
  });

  test("error replies become RemoteError with code, status and endpoint", async (t) => {
    const { endpoint, log } = await startServer(t, {
      DENY: () => {
        throw new GmError(ErrorCode.NotMember, "join first");
      },
      DENY_LATER: async () => {
        await new Promise(setImmediate);
        throw new GmError(ErrorCode.ShuttingDown, "busy", Status.TryAgain);
      },
      CRASH: () => {
        throw new TypeError("boom");
      },
    });
    const c = client(t, endpoint);

    await assert.rejects(c.request("DENY", {}), (err: unknown) => {
      assert.ok(err instanceof RemoteError);
      assert.ok(err instanceof GmError);
      assert.equal(err.code, "NOT_MEMBER");
      assert.equal(err.status, "400");
      assert.equal(err.message, "join first");
      assert.equal(err.endpoint, endpoint);
      return true;
    });
    // tries: 1, so a 300 is not retried but reported.
    await assert.rejects(c.request("DENY_LATER", {}), { code: "SHUTTING_DOWN", status: "300" });
    await assert.rejects(c.request("CRASH", {}), { code: "INTERNAL", status: "500", message: /internal error: boom/ });
    assert.ok(log.some((l) => l.includes("internal error") && l.includes("boom")));
  });

  test("an unknown command → UNKNOWN_COMMAND listing the known ones", async (t) => {
    const { endpoint } = await startServer(t, echo);
    const c = client(t, endpoint);
    await assert.rejects(c.request("FROB", {}), {
      code: "UNKNOWN_COMMAND",
      status: "400",
      message: 'unknown command "FROB"; this server knows ECHO, ASYNC',
    });
    // Inherited properties of the handler table are not commands.
    await assert.rejects(c.request("toString", {}), { code: "UNKNOWN_COMMAND" });
    await assert.rejects(c.request("__proto__", {}), { code: "UNKNOWN_COMMAND" });
  });

  test("many concurrent requests, answered out of order, each get their own reply", async (t) => {
    const { endpoint } = await startServer(t, {
      // Finish after a number of event-loop turns that varies by request: replies leave out of order.
      SCRAMBLE: async (r) => {
        const n = r.body.n as number;
        for (let i = 0; i < (n * 7919) % 13; i++) await new Promise(setImmediate);
        return { n, id: r.id.toString() };
      },
    });
    const c = client(t, endpoint, { timeoutMs: 10_000 });
    const replies = await Promise.all(
      Array.from({ length: 2000 }, (_, n) => c.request<{ n: number; id: string }>("SCRAMBLE", { n })),
    );
    assert.deepEqual(
      replies.map((r) => r.n),
      Array.from({ length: 2000 }, (_, n) => n),
    );
    assert.equal(new Set(replies.map((r) => r.id)).size, 2000, "every request had its own id");
    assert.equal(c.inFlight, 0);
  });

  test("a handler answering late does not hold up others", async (t) => {
    const slow = gate<{ slow: true }>();
    const { endpoint } = await startServer(t, { SLOW: () => slow.promise, ...echo });
    const c = client(t, endpoint);
    const late = c.request("SLOW", {});
    assert.deepEqual(await c.request("ECHO", { x: 1 }), { got: { x: 1 } });
    assert.equal(c.inFlight, 1);
    slow.open({ slow: true });
    assert.deepEqual(await late, { slow: true });
  });

  test("a retry resends the same id; a late reply to the first try resolves the request", async (t) => {
    const calls: string[] = [];
    const secondTry = gate();
    let first: Promise<unknown> | undefined;
    const { endpoint } = await startServer(t, {
      LATE: (r) => {
        calls.push(r.id.toString());
        if (calls.length === 1) {
          first = secondTry.promise.then(() => ({ answered: "first try" }));
          return first;
        }
        secondTry.open();
        // Answer the retry only after the first try's reply has been queued.
        return (first as Promise<unknown>).then(() => ({ answered: "retry" }));
      },
      ...echo,
    });
    const c = client(t, endpoint, { timeoutMs: 150, tries: 3 });
    assert.deepEqual(await c.request("LATE", {}), { answered: "first try" });
    assert.equal(calls.length, 2);
    assert.equal(calls[0], calls[1], "the retry carries the same request id");
    assert.equal(c.inFlight, 0);
    // The duplicate reply that follows is ignored; the client goes on working.
    assert.deepEqual(await c.request("ECHO", { after: true }), { got: { after: true } });
  });

  test("a 300 reply is retried and the retry's answer counts", async (t) => {
    let calls = 0;
    const { endpoint } = await startServer(t, {
      FLAKY: () => {
        calls++;
        if (calls === 1) throw new GmError(ErrorCode.ShuttingDown, "restarting", Status.TryAgain);
        return { calls };
      },
    });
    const c = client(t, endpoint, { tries: 2 });
    assert.deepEqual(await c.request("FLAKY", {}), { calls: 2 });
  });

  for (const code of [ErrorCode.StorageFull, ErrorCode.Busy]) {
    test(`300 ${code} waits longer before each retry: 1 s, then 2 s, then the answer counts`, async (t) => {
      const arrivals: number[] = [];
      const { endpoint } = await startServer(t, {
        SEND: () => {
          arrivals.push(performance.now());
          if (arrivals.length <= 2) throw new GmError(code, "no room", Status.TryAgain);
          return { stored: arrivals.length };
        },
      });
      const c = client(t, endpoint, { tries: 3 });
      assert.deepEqual(await c.request("SEND", {}), { stored: 3 });
      const [first, second, third] = arrivals as [number, number, number];
      // The wait is measured at the server, between the tries' arrivals (a round trip adds a little).
      const waits = [second - first, third - second] as const;
      assert.ok(waits[0] >= 990 && waits[0] < 1500, `first wait ~1 s: ${waits[0]} ms`);
      assert.ok(waits[1] >= 1990 && waits[1] < 2600, `second wait ~2 s: ${waits[1]} ms`);
    });
  }

  test("a 300 STORAGE_FULL on every try ends with the server's error, and the CLI says the disk is full", async (t) => {
    let calls = 0;
    const { endpoint } = await startServer(t, {
      SEND: () => {
        calls++;
        throw new GmError(ErrorCode.StorageFull, 'the store of group "general" is out of room', Status.TryAgain);
      },
    });
    const c = client(t, endpoint, { tries: 3 });
    const started = performance.now();
    const err = await c.request("SEND", {}).then(
      () => assert.fail("a full disk is not a success"),
      (e: unknown) => e,
    );
    const elapsed = performance.now() - started;
    assert.ok(err instanceof RemoteError, String(err));
    assert.equal(err.code, "STORAGE_FULL");
    assert.equal(err.status, "300");
    assert.equal(calls, 3, "every try was sent");
    assert.ok(elapsed >= 2990 && elapsed < 4000, `1 s + 2 s of waiting: ${elapsed} ms`);
    assert.equal(
      failureText(err, "user:send"),
      `the group server's disk is full: the message was not stored; try again once it has room (the server said: the store of group "general" is out of room)`,
    );
    assert.match(failureText(err, "user:join"), /^the group server's disk is full: nothing was changed;/);
    assert.equal(exitCode(err), Exit.Failed, "a request that failed, not a peer that did not answer");
  });

  test("SHUTTING_DOWN keeps its short wait", async (t) => {
    const arrivals: number[] = [];
    const { endpoint } = await startServer(t, {
      PING: () => {
        arrivals.push(performance.now());
        if (arrivals.length === 1) throw new GmError(ErrorCode.ShuttingDown, "restarting", Status.TryAgain);
        return {};
      },
    });
    const c = client(t, endpoint, { tries: 2 });
    await c.request("PING", {});
    const wait = (arrivals[1] as number) - (arrivals[0] as number);
    assert.ok(wait >= 240 && wait < 700, `~250 ms: ${wait} ms`);
  });

  test("TimeoutError naming the endpoint when nothing listens", async (t) => {
    const endpoint = await deadEndpoint();
    const c = client(t, endpoint, { timeoutMs: 200, tries: 2 });
    const started = performance.now();
    await assert.rejects(c.request("ECHO", {}), (err: unknown) => {
      assert.ok(err instanceof TimeoutError, String(err));
      assert.equal(err.endpoint, endpoint);
      assert.equal(err.attempts, 2);
      assert.equal(
        err.message,
        `no reply from ${endpoint} after 2 tries (0.4 s): is the server running and reachable?`,
      );
      return true;
    });
    assert.ok(performance.now() - started >= 390, "it waited for both tries");
    assert.equal(c.inFlight, 0);
  });

  test("a peer that never answers sees every try with the same id", async (t) => {
    const mute = new zmq.Router({ linger: 0 });
    await mute.bind(LOOPBACK);
    t.after(() => mute.close());
    const endpoint = mute.lastEndpoint as string;
    const c = client(t, endpoint, { timeoutMs: 100, tries: 3 });
    const outcome = c.request("ECHO", { q: 1 }).then(
      () => "resolved",
      (err: Error) => err,
    );
    const seen: string[][] = [];
    for (let i = 0; i < 3; i++) {
      const [, ...payload] = await mute.receive();
      seen.push(payload.map(String));
    }
    const err = await outcome;
    assert.ok(err instanceof TimeoutError);
    assert.equal(err.attempts, 3);
    assert.match(seen[0]?.[0] ?? "", new RegExp(`^${SIGNATURE} ECHO \\S+\n\\{"q":1\\}$`));
    assert.equal(seen[0]?.length, 1);
    assert.deepEqual(seen[1], seen[0]);
    assert.deepEqual(seen[2], seen[0]);
  });

  test("a request may ask for fewer tries than its client makes", async (t) => {
    const mute = new zmq.Router({ linger: 0 });
    await mute.bind(LOOPBACK);
    t.after(() => mute.close());
    const c = client(t, mute.lastEndpoint as string, { timeoutMs: 100, tries: 3 });
    await assert.rejects(c.request("ECHO", {}, { tries: 1 }), (err: unknown) => {
      assert.ok(err instanceof TimeoutError);
      assert.equal(err.attempts, 1);
      return true;
    });
  });

  test("connected: true once a handshake succeeded, false once the server went away", async (t) => {
    const server = new RpcServer({ handlers: echo });
    const endpoint = await server.listen(LOOPBACK);
    const c = client(t, endpoint);
    assert.equal(c.connected, false, "nothing yet");
    await c.request("ECHO", {});
    assert.equal(c.connected, true);
    await server.close(0);
    const deadline = Date.now() + 5000;
    while (c.connected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(c.connected, false, "the server closed its socket");
    const nobody = client(t, await deadEndpoint());
    await assert.rejects(nobody.request("ECHO", {}, { timeoutMs: 100 }), TimeoutError);
    assert.equal(nobody.connected, false, "a refused port never connects");
  });

  /** A peer that records every request it receives and never answers on its own. */
  async function mutePeer(t: TestContext) {
    const socket = new zmq.Router({ linger: 0 });
    await socket.bind(LOOPBACK);
    t.after(() => socket.close());
    const seen: Array<{ envelope: Buffer[]; id: string; body: string }> = [];
    void (async () => {
      try {
        for await (const frames of socket) {
          const r = decodeRequest(frames);
          if (!r.ok) continue;
          const { envelope, id, body } = r.request;
          seen.push({ envelope: [...envelope], id, body: JSON.stringify(body) });
        }
      } catch {
        // closed
      }
    })();
    return { socket, endpoint: socket.lastEndpoint as string, seen };
  }

  async function until(condition: () => boolean, what: string): Promise<void> {
    const deadline = performance.now() + 5000;
    while (!condition()) {
      if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  test("a cancelled request rejects at once, is not tried again, and its late reply is dropped", async (t) => {
    const mute = await mutePeer(t);
    const c = client(t, mute.endpoint, { timeoutMs: 100, tries: 5 });
    const controller = new AbortController();
    const cancelled = c.request("ECHO", { q: 1 }, { signal: controller.signal });
    await until(() => mute.seen.length === 1, "the first try");
    controller.abort();
    await assert.rejects(cancelled, (err: unknown) => {
      assert.ok(err instanceof CancelledError);
      assert.equal(err.sent, true, "it had gone out: the server may act on it");
      assert.equal(err.code, "CANCELLED");
      return true;
    });
    assert.equal(c.inFlight, 0, "no pending entry is left");
    // A late reply to it is dropped; the next request gets its own answer.
    const first = mute.seen[0] as (typeof mute.seen)[number];
    await mute.socket.send(encodeReply(first.envelope, first.id, { late: true }));
    const next = c.request("ECHO", { q: 2 }, { timeoutMs: 400 });
    await until(() => mute.seen.length === 2, "the second request");
    const second = mute.seen[1] as (typeof mute.seen)[number];
    await mute.socket.send(encodeReply(second.envelope, second.id, { answer: 2 }));
    assert.deepEqual(await next, { answer: 2 });
    // Its retries would have come every 100 ms: the third request's 400 ms timeout outlasts them.
    await assert.rejects(c.request("ECHO", { q: 3 }, { timeoutMs: 400 }), TimeoutError);
    assert.deepEqual(
      mute.seen.map((r) => r.body),
      ['{"q":1}', '{"q":2}', '{"q":3}', '{"q":3}', '{"q":3}', '{"q":3}', '{"q":3}'],
      "the cancelled request was tried once",
    );
  });

  test("a request whose signal fired already is not sent", async (t) => {
    const mute = await mutePeer(t);
    const c = client(t, mute.endpoint, { timeoutMs: 100, tries: 1 });
    await assert.rejects(c.request("ECHO", { q: 1 }, { signal: AbortSignal.abort() }), (err: unknown) => {
      assert.ok(err instanceof CancelledError);
      assert.equal(err.sent, false);
      return true;
    });
    assert.equal(c.inFlight, 0);
    await assert.rejects(c.request("ECHO", { q: 2 }), TimeoutError);
    // One connection keeps its order: had the cancelled request been sent, it would come first.
    await until(() => mute.seen.length > 0, "the second request");
    assert.deepEqual(
      mute.seen.map((r) => r.body),
      ['{"q":2}'],
    );
  });

  test("a plain zeromq REQ socket works against RpcServer (its delimiter is mirrored)", async (t) => {
    const { endpoint } = await startServer(t, echo);
    const req = new zmq.Request({ linger: 0, receiveTimeout: 5000 });
    t.after(() => req.close());
    req.connect(endpoint);

    await req.send(`${SIGNATURE} ECHO req-1\n{"from":"req"}`);
    assert.deepEqual((await req.receive()).map(String), [`${SIGNATURE} 200 req-1\n{"got":{"from":"req"}}`]);

    // Error replies reach a REQ socket too (else it would be stuck waiting).
    await req.send("GM/9 ECHO req-2\n{}");
    const [reply = ""] = (await req.receive()).map(String);
    assert.ok(reply.startsWith(`${SIGNATURE} 400 req-2\n`), reply);
    assert.equal(JSON.parse(reply.slice(reply.indexOf("\n") + 1)).code, "UNSUPPORTED_VERSION");

    await req.send(`${SIGNATURE} ASYNC req-3\n{}`);
    assert.deepEqual((await req.receive()).map(String), [`${SIGNATURE} 200 req-3\n{"later":{}}`]);
  });

  test("close() of the server answers requests in flight and refuses new ones with 300", async (t) => {
    const started = gate();
    const release = gate<{ done: true }>();
    const server = new RpcServer({
      handlers: {
        WORK: () => {
          started.open();
          return release.promise;
        },
        ...echo,
      },
    });
    const endpoint = await server.listen(LOOPBACK);
    t.after(() => server.close(0));
    const a = client(t, endpoint, { timeoutMs: 5000 });
    const b = client(t, endpoint, { timeoutMs: 5000 });
    await b.request("ECHO", {}); // b is connected

    const inFlight = a.request("WORK", {});
    await started.promise;
    const closing = server.close(5000);
    await assert.rejects(b.request("ECHO", {}), {
      code: "SHUTTING_DOWN",
      status: "300",
      message: /shutting down/,
    });
    release.open({ done: true });
    assert.deepEqual(await inFlight, { done: true });
    await closing;
  });

  test("close() delivers every reply of the requests in flight, however many", async (t) => {
    const release = gate();
    let started = 0;
    const server = new RpcServer({
      handlers: {
        WORK: async () => {
          started++;
          await release.promise;
          // 3 MB in all: more than ZeroMQ takes for one peer at once (RpcServer's
          // PEER_QUEUED_REPLIES), within what waits for it in the process (PEER_BACKLOG).
          return { pad: "x".repeat(3_000) };
        },
      },
    });
    const endpoint = await server.listen(LOOPBACK);
    t.after(() => server.close(0));
    // The client's deadline covers starting all 1,000, the close and the replies: on a loaded
    // machine that took over 1.5 s and timed 917 out. A dropped reply still fails the test.
    const c = client(t, endpoint, { timeoutMs: 20_000 });
    const n = 1000;
    const replies = Promise.allSettled(Array.from({ length: n }, () => c.request("WORK", {})));
    const deadline = Date.now() + 10_000;
    while (started < n && Date.now() < deadline) await new Promise(setImmediate);
    assert.equal(started, n);
    const closing = server.close(5000);
    release.open();
    const outcome = await replies;
    await closing;
    assert.equal(outcome.filter((r) => r.status === "rejected").length, 0, "every request in flight got its reply");
  });

  test("close() with a grace period gives up on a handler that never answers", async (t) => {
    const started = gate();
    const server = new RpcServer({
      handlers: {
        NEVER: () => {
          started.open();
          return new Promise(() => {});
        },
      },
    });
    const endpoint = await server.listen(LOOPBACK);
    const c = client(t, endpoint, { timeoutMs: 5000 });
    const abandoned = c.request("NEVER", {}).catch((err: Error) => err);
    await started.promise;
    await server.close(50);
    await c.close();
    const err = await abandoned;
    assert.ok(err instanceof Error);
    assert.match(err.message, /abandoned: the client closed/);
  });

  test("a closed client rejects pending and new requests", async (t) => {
    const never = new zmq.Router({ linger: 0 });
    await never.bind(LOOPBACK);
    t.after(() => never.close());
    const c = new RpcClient(never.lastEndpoint as string, { timeoutMs: 5000 });
    const pending = c.request("ECHO", {});
    await c.close();
    await assert.rejects(pending, /abandoned: the client closed/);
    await assert.rejects(c.request("ECHO", {}), /is closed/);
    await c.close(); // twice is fine
  });
});
