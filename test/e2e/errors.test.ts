/** Every bad input and dead peer gives a specific error and a non-zero exit, never a hang. */
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { newKeyPair } from "../../src/protocol/keys.js";
import { type GmProcess, gm, GmProcess as Proc, startDirectory, startGroup, tempHome } from "../helpers/gm.js";

/** Where a test waits for a dead peer: 3 tries of 0.5 s instead of 2.5 s (README, "Dead peers"). */
const QUICK = { GM_REQUEST_TIMEOUT_MS: "500" };

/** A loopback port that nothing listens on (bound and released by the OS). */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe("errors", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home };
  let directory: { proc: GmProcess; endpoint: string; key: string };
  let group: { proc: GmProcess; endpoint: string };
  const user = (...args: string[]) => gm(["user", ...args, "--server", directory.endpoint], { env });

  before(async () => {
    directory = await startDirectory(env);
    group = await startGroup(["general"], { env, server: directory.endpoint, dataDir: join(home, "data") });
    const joined = await user("join", "general");
    assert.equal(joined.exitCode, 0, joined.stderr);
  });

  after(async () => {
    await Promise.all([group?.proc.stop(), directory?.proc.stop()]);
    cleanup();
  });

  it("a message server that is not running: the endpoint is named and the exit is 3", { timeout: 15_000 }, async () => {
    const endpoint = `tcp://127.0.0.1:${await deadPort()}`;
    // A key is known (given), so the client gets as far as waiting for an answer.
    const key = newKeyPair().publicKey;
    const r = await gm(["user", "list-groups", "--server", endpoint, "--server-key", key], {
      env: { ...env, ...QUICK },
    });
    assert.equal(r.exitCode, 3);
    assert.match(r.stderr, new RegExp(`no reply from ${endpoint} after 3 tries \\(1\\.5 s\\)`));
  });

  it("unknown group", async () => {
    const r = await user("join", "nosuchgroup");
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /no group named "nosuchgroup" is registered/);
  });

  it("empty and oversized messages are bad usage (exit 2), refused before anything is stored", async () => {
    const blank = await user("send", "general", "   ");
    assert.equal(blank.exitCode, 2);
    assert.match(blank.stderr, /the message is empty \(EMPTY_MESSAGE\)/);
    const empty = await user("send", "general", "");
    assert.equal(empty.exitCode, 2);
    assert.match(empty.stderr, /the message is empty/);
    const big = await user("send", "general", "x".repeat(64 * 1024 + 1));
    assert.equal(big.exitCode, 2);
    assert.match(big.stderr, /65537 bytes; the limit is 65536 bytes/);
    const fits = await user("send", "general", "é".repeat(32 * 1024));
    assert.equal(fits.exitCode, 0, fits.stderr);
    const history = await user("messages", "general", "--json");
    assert.equal(JSON.parse(history.stdout).length, 1);
  });

  it("an invalid group name is bad usage (exit 2), for users and group servers", async () => {
    const r = await user("join", "bad name!");
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, /must be a group name/);
    const server = await gm(
      ["group", "--name", "bad name!", "--address", "127.0.0.1:0", "--server", directory.endpoint],
      { env },
    );
    assert.equal(server.exitCode, 2);
    assert.match(server.stderr, /must be a group name/);
    const up = await gm(["up", "--group", "bad name!", "--bind", "127.0.0.1:0", "--address", "127.0.0.1:0"], { env });
    assert.equal(up.exitCode, 2);
    assert.match(up.stderr, /must be a group name/);
  });

  it("an invalid profile name is bad usage (exit 2)", async () => {
    const r = await user("groups", "--profile", "../x");
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, /invalid profile name "\.\.\/x"/);
  });

  it("--display-name is held to the server's rule: 1 to 64 characters (code points), no controls", async () => {
    const emoji = "😀".repeat(64);
    const ok = await user("join", "general", "--profile", "emoji", "--display-name", emoji, "--json");
    assert.equal(ok.exitCode, 0, ok.stderr);
    const who = await user("whoami", "--profile", "emoji", "--json");
    assert.equal(JSON.parse(who.stdout).name, emoji);
    const long = await user("whoami", "--profile", "emoji", "--display-name", "😀".repeat(65));
    assert.equal(long.exitCode, 2);
    assert.match(long.stderr, /"--display-name" is longer than 64 characters/);
    const blank = await user("whoami", "--profile", "emoji", "--display-name", "   ");
    assert.equal(blank.exitCode, 2);
    const control = await user("whoami", "--profile", "emoji", "--display-name", "evil\u001b[31m");
    assert.equal(control.exitCode, 2);
    assert.match(control.stderr, /"--display-name" must not contain control characters/);
    assert.equal(JSON.parse((await user("whoami", "--profile", "emoji", "--json")).stdout).name, emoji);
  });

  it("invalid timestamp and invalid --limit", async () => {
    const r = await user("messages", "general", "--since", "yesterday-ish");
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, /invalid timestamp "yesterday-ish"/);
    const clock = await user("messages", "general", "--since", "25:00");
    assert.match(clock.stderr, /invalid time of day "25:00"/);
    const limit = await user("messages", "general", "--limit", "0");
    assert.equal(limit.exitCode, 2);
  });

  it("invalid endpoints, for users and servers", async () => {
    const r = await gm(["user", "list-groups", "--server", "udp://127.0.0.1:5555"], { env });
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, /only tcp:\/\/ is supported/);
    const noPort = await gm(["user", "list-groups", "--server", "127.0.0.1"], { env });
    assert.match(noPort.stderr, /invalid endpoint "127\.0\.0\.1"/);
    const server = await gm(["server", "--bind", "127.0.0.1:99999"], { env });
    assert.equal(server.exitCode, 2);
    assert.match(server.stderr, /port 99999 is out of range/);
  });

  it("a port already in use", async () => {
    const port = directory.endpoint.split(":").at(-1) as string;
    const r = await gm(["server", "--bind", `127.0.0.1:${port}`], { env });
    assert.notEqual(r.exitCode, 0);
    assert.match(r.stderr, new RegExp(`cannot listen on tcp://127\\.0\\.0\\.1:${port}: the address is already in use`));
  });

  it("a group name bound to another group server key", async () => {
    const second = new Proc(
      [
        "group",
        "--name",
        "general",
        "--address",
        "127.0.0.1:0",
        "--server",
        directory.endpoint,
        "--data-dir",
        join(home, "other"),
      ],
      env,
    );
    const code = await second.exited;
    assert.equal(code, 1);
    // Another data dir is another group server key: the name belongs to the first one's key.
    assert.match(second.stderr, /the group name "general" belongs to another group server's key \([0-9a-f]{8}\)/);
    assert.match(second.stderr, /\(FORBIDDEN\)/, "the directory's code is shown");
  });

  it("the same group's store served twice on one machine", async () => {
    const second = new Proc(
      [
        "group",
        "--name",
        "general",
        "--address",
        "127.0.0.1:0",
        "--server",
        directory.endpoint,
        "--data-dir",
        join(home, "data"),
      ],
      env,
    );
    assert.equal(await second.exited, 1);
    assert.match(second.stderr, /group "general" is already served by another process/);
  });

  it("a group server without --name and without a terminal", async () => {
    const r = await gm(["group", "--address", "127.0.0.1:0", "--server", directory.endpoint], { env });
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, /--name is required when stdin is not a terminal/);
  });

  it("a group server that is down: the joined group's endpoint is named", { timeout: 20_000 }, async () => {
    const { home: h2, cleanup: c2 } = tempHome();
    const env2 = { GM_HOME: h2, GM_SERVER_KEY: directory.key };
    const g = await startGroup(["doomed"], { env: env2, server: directory.endpoint, dataDir: join(h2, "data") });
    try {
      const j = await gm(["user", "join", "doomed", "--server", directory.endpoint], { env: env2 });
      assert.equal(j.exitCode, 0, j.stderr);
      await g.proc.stop("SIGKILL");
      const r = await gm(["user", "send", "doomed", "anyone?", "--server", directory.endpoint], {
        env: { ...env2, ...QUICK },
      });
      assert.equal(r.exitCode, 3);
      assert.match(r.stderr, new RegExp(`no reply from ${g.endpoint}`));
    } finally {
      await g.proc.stop();
      c2();
    }
  });
});
