/**
 * The servers' logs under hostile traffic, against the real processes: a quoted field cannot forge
 * a line, a flood of malformed requests costs a line (not a line each), and `--quiet` is quiet.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as zmq from "zeromq";
import { SIGNATURE } from "../../src/protocol/constants.js";
import { type GmProcess, gm, startDirectory, startGroup, tempHome } from "../helpers/gm.js";

/** A raw plain-text DEALER: sends one request frame and returns the reply's status and body. */
async function call(endpoint: string, frame: string): Promise<{ status: string; body: { code?: string } }> {
  const socket = new zmq.Dealer({ linger: 0, receiveTimeout: 5000 });
  socket.connect(endpoint);
  try {
    await socket.send(frame);
    const [reply] = await socket.receive();
    const text = String(reply);
    const lf = text.indexOf("\n");
    return { status: text.slice(0, lf).split(" ")[1] ?? "", body: JSON.parse(text.slice(lf + 1)) };
  } finally {
    socket.close();
  }
}

/** Sends `n` malformed requests (bad JSON, or `request`) on one socket and waits for every reply. */
async function flood(endpoint: string, n: number, request = (i: number) => `${SIGNATURE} PING f${i}\n{not json`) {
  const socket = new zmq.Dealer({ linger: 0, receiveTimeout: 10_000 });
  socket.connect(endpoint);
  try {
    for (let i = 0; i < n; i++) await socket.send(request(i));
    for (let i = 0; i < n; i++) await socket.receive();
  } finally {
    socket.close();
  }
}

/** A PING, answered: everything the server logged for the requests before it is written by now. */
async function ping(endpoint: string): Promise<void> {
  assert.equal((await call(endpoint, `${SIGNATURE} PING p\n{}`)).status, "200");
}

describe("server logs", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home };
  let loud: { proc: GmProcess; endpoint: string };
  let quiet: { proc: GmProcess; endpoint: string };
  let quietGroup: { proc: GmProcess; endpoint: string };

  before(async () => {
    loud = await startDirectory(env, ["--insecure"]);
    quiet = await startDirectory(env, ["--insecure", "--quiet"]);
    quietGroup = await startGroup(["general"], {
      env,
      server: quiet.endpoint,
      dataDir: join(home, "data"),
      extra: ["--insecure", "--quiet"],
    });
  });

  after(async () => {
    await Promise.all([quietGroup?.proc.stop(), quiet?.proc.stop(), loud?.proc.stop()]);
    cleanup();
  });

  it("a LIST user with a line feed and escapes cannot forge a log line: it is escaped", async () => {
    // At most 64 characters, as LIST takes: a line feed, a timestamped line, a terminal title.
    const forged = `mallory\n${new Date().toISOString()} DROPPED GROUP "g"\u001b]0;pwned\u0007`;
    const reply = await call(loud.endpoint, `${SIGNATURE} LIST l1\n${JSON.stringify({ user: forged })}`);
    assert.equal(reply.status, "200");
    await loud.proc.waitFor(/GROUP LIST REQUEST FROM mallory/);
    const lines = loud.proc.stdout.split("\n");
    assert.ok(!lines.some((l) => /^\S+ DROPPED GROUP/.test(l)), loud.proc.stdout);
    assert.ok(!loud.proc.stdout.includes("\u001b"), "no escape character reaches the log");
    assert.ok(
      lines.some((l) => l.includes("GROUP LIST REQUEST FROM mallory\\n") && l.includes("\\x1b]0;pwned\\x07")),
      loud.proc.stdout,
    );
  });

  it("a REGISTER address with a NUL byte is refused as an endpoint", async () => {
    const body = { name: "nul", id: "3f1e2d4c-5b6a-4789-8a0b-1c2d3e4f5a6b", address: "tcp://evil\u0000host:1" };
    const reply = await call(loud.endpoint, `${SIGNATURE} REGISTER r1\n${JSON.stringify(body)}`);
    assert.equal(reply.status, "400");
    assert.equal(reply.body.code, "BAD_REQUEST");
    const list = await call(loud.endpoint, `${SIGNATURE} LIST l2\n{}`);
    assert.ok(!JSON.stringify(list.body).includes("nul"), JSON.stringify(list.body));
  });

  it("500 malformed requests cost the log one line, not 500", async () => {
    const before = loud.proc.stdout.length;
    await flood(loud.endpoint, 500);
    await ping(loud.endpoint);
    const written = loud.proc.stdout.slice(before);
    const lines = written.split("\n").filter((l) => l.includes("malformed"));
    assert.equal(lines.length, 1, written);
    assert.ok(written.length < 300, `${written.length} bytes of log for 500 malformed requests`);
  });

  it("300 unknown commands cost the log one line, naming the command", async () => {
    const before = loud.proc.stdout.length;
    await flood(loud.endpoint, 300, (i) => `${SIGNATURE} FROB u${i}\n{}`);
    await ping(loud.endpoint);
    const written = loud.proc.stdout.slice(before);
    const lines = written.split("\n").filter((l) => l.includes("unknown command"));
    assert.equal(lines.length, 1, written);
    assert.match(lines[0] as string, /rejected an unknown command: FROB/);
  });

  it("gm server --quiet and gm group --quiet log nothing for malformed requests", async () => {
    for (const server of [quiet, quietGroup]) {
      const before = server.proc.stdout.length;
      await flood(server.endpoint, 200);
      await flood(server.endpoint, 200, (i) => `${SIGNATURE} FROB q${i}\n{}`);
      await ping(server.endpoint);
      assert.equal(server.proc.stdout.slice(before), "", `${server.endpoint} logged under --quiet`);
    }
  });
});

describe("gm group with GM_SYNC_COUNTS=1 (for the bench)", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home };
  let directory: { proc: GmProcess; endpoint: string } | undefined;
  let group: { proc: GmProcess; endpoint: string } | undefined;

  after(async () => {
    await Promise.all([group?.proc.stop(), directory?.proc.stop()]);
    cleanup();
  });

  it("logs the writes its syncs made durable, and the syncs, on each SIGUSR2", async () => {
    directory = await startDirectory(env, ["--insecure", "--quiet"]);
    group = await startGroup(["general"], {
      env: { ...env, GM_SYNC_COUNTS: "1" },
      server: directory.endpoint,
      dataDir: join(home, "data"),
      extra: ["--insecure", "--quiet"],
    });
    const proc = group.proc;
    const counts = async (n: number) => {
      proc.child.kill("SIGUSR2");
      const all = await proc.waitFor(new RegExp(`(?:sync counts: .*\\n[^]*?){${n}}`));
      const line = all[0].trim().split("\n").at(-1) as string;
      const m = /sync counts: writes=(\d+) syncs=(\d+) markSyncs=(\d+)$/.exec(line);
      assert.ok(m !== null, line);
      return { writes: Number(m[1]), syncs: Number(m[2]) };
    };
    assert.deepEqual(await counts(1), { writes: 0, syncs: 0 });
    const server = ["--server", directory.endpoint];
    for (const args of [
      ["user", "join", "general", ...server],
      ["user", "send", "general", "hello", ...server],
    ]) {
      const r = await gm(args, { env: { ...env, GM_INSECURE: "1" } });
      assert.equal(r.exitCode, 0, r.stderr);
    }
    // A JOIN and a SEND, one after the other: two writes, each its own sync.
    assert.deepEqual(await counts(2), { writes: 2, syncs: 2 });
    assert.ok(proc.running, "SIGUSR2 does not stop it");
  });
});
