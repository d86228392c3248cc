/**
 * The profile through the real binary: read markers and unread counts (one-shot commands, a
 * follower, the shell), the message server remembered by `login`, a new display name carried to
 * every joined group, an idempotent `leave` (and `--force`), and a group nobody serves failing at
 * once while a registered but silent one is still waited for.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { BIN, gmEnv, runToExit } from "../../support/gm-process.js";
import { GmProcess, gm, startDirectory, startGroup, tempHome } from "../helpers/gm.js";

interface JoinedJson {
  name: string;
  read: number;
  last: number | null;
  unread: number | null;
  displayName?: string;
}

/** Polls `check` until it returns true (bounded). */
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A TCP port that accepts connections and never says a word: a server that is there but silent. */
async function blackHole(): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { server, port, close };
}

/** `gm` under a pseudo-terminal (script(1)), so that the shell is interactive; output kept. */
class InTerminal {
  output = "";
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  constructor(args: readonly string[], env: NodeJS.ProcessEnv) {
    const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
    const line = [process.execPath, BIN, ...args].map(quote).join(" ");
    this.child = spawn("script", ["-qfec", line, "/dev/null"], { env, stdio: ["pipe", "pipe", "pipe"] });
    this.child.stdout?.setEncoding("utf8");
    this.child.stdout?.on("data", (d: string) => {
      this.output += d;
    });
    this.exited = new Promise((resolve) => this.child.once("exit", resolve));
  }
  write(text: string): void {
    this.child.stdin?.write(`${text}\r`);
  }
  async waitFor(pattern: RegExp, timeoutMs = 20_000): Promise<void> {
    await until(async () => pattern.test(this.output), `the terminal shows ${pattern}\n${this.output}`, timeoutMs);
  }
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    await this.exited;
  }
}

describe("the profile", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home };
  const dataDir = join(home, "data");
  let directory: { proc: GmProcess; endpoint: string; key: string };
  let group: { proc: GmProcess; endpoint: string };
  const stoppable: Array<{ stop: () => Promise<unknown> }> = [];
  const user = (profile: string, ...args: string[]) =>
    gm(["user", ...args, "--profile", profile, "--server", directory.endpoint], { env });
  const ok = async (profile: string, ...args: string[]) => {
    const r = await user(profile, ...args);
    assert.equal(r.exitCode, 0, `gm user ${args.join(" ")}: ${r.stderr}`);
    return r;
  };
  const joined = async (profile: string): Promise<JoinedJson[]> =>
    JSON.parse((await ok(profile, "groups", "--json")).stdout) as JoinedJson[];
  const unreadIn = async (profile: string, name: string) => (await joined(profile)).find((g) => g.name === name);
  const texts = (out: string) => [...out.matchAll(/\): (\S+)$/gm)].map((m) => m[1]);
  const groupServer = async (names: string[]) => {
    const g = await startGroup(names, { env, server: directory.endpoint, dataDir });
    stoppable.push(g.proc);
    return g;
  };

  before(async () => {
    directory = await startDirectory(env);
    group = await startGroup(["general", "random"], { env, server: directory.endpoint, dataDir });
  });

  after(async () => {
    await Promise.all([...stoppable.map((p) => p.stop()), group?.proc.stop(), directory?.proc.stop()]);
    cleanup();
  });

  it("counts unread messages; messages --unread shows them and moves the read marker", async () => {
    await ok("alice", "join", "general");
    await ok("bob", "join", "general");
    for (const t of ["m1", "m2", "m3"]) await ok("bob", "send", "general", t);

    const table = await ok("alice", "groups");
    assert.match(table.stdout, /^GROUP\s+UNREAD\s+JOINED\s+ADDRESS$/m);
    assert.match(table.stdout, /^general\s+3\s+/m);
    assert.deepEqual(
      { ...(await unreadIn("alice", "general")) },
      { ...(await unreadIn("alice", "general")), read: 0, last: 3, unread: 3 },
    );

    assert.deepEqual(texts((await ok("alice", "messages", "general", "--unread", "--limit", "2")).stdout), [
      "m1",
      "m2",
    ]);
    assert.equal((await unreadIn("alice", "general"))?.unread, 1);
    assert.deepEqual(texts((await ok("alice", "messages", "general", "--unread")).stdout), ["m3"]);
    assert.equal((await unreadIn("alice", "general"))?.unread, 0);
    assert.match((await ok("alice", "messages", "general", "--unread")).stdout, /^No unread messages\.$/m);

    // Whatever shows the newest messages moves the marker there, and never back.
    for (const t of ["m4", "m5"]) await ok("bob", "send", "general", t);
    assert.deepEqual(texts((await ok("alice", "messages", "general", "--limit", "1")).stdout), ["m5"]);
    assert.equal((await unreadIn("alice", "general"))?.read, 5);
    await ok("alice", "messages", "general", "--since", "0", "--limit", "1");
    assert.equal((await unreadIn("alice", "general"))?.read, 5, "an older page does not move it back");

    // A new member's unread starts at nothing: the history before the join is not news.
    await ok("carol", "join", "general");
    assert.equal((await unreadIn("carol", "general"))?.unread, 0);
    const bad = await user("alice", "messages", "random", "--unread");
    assert.equal(bad.exitCode, 1);
    assert.match(bad.stderr, /you have not joined "random"/);
  });

  it("the shell starts with a summary of unread groups; what it and a follower show moves the marker", {
    timeout: 90_000,
  }, async () => {
    await ok("dora", "join", "general");
    await ok("dora", "join", "random");
    await ok("bob", "join", "general");
    await ok("bob", "join", "random");
    for (const t of ["g1", "g2"]) await ok("bob", "send", "general", t);
    await ok("bob", "send", "random", "r1");

    const term = new InTerminal(
      ["user", "shell", "--profile", "dora", "--server", directory.endpoint],
      gmEnv(env, ["GM_SERVER"]),
    );
    stoppable.push(term);
    await term.waitFor(/unread: general 2, random 1/);
    term.write("get_messages general");
    await term.waitFor(/bob \([0-9a-f]{8}\): g2/);
    term.write("exit");
    assert.equal(await term.exited, 0, term.output);
    assert.equal((await unreadIn("dora", "general"))?.unread, 0, "get_messages moved the marker");
    assert.equal((await unreadIn("dora", "random"))?.unread, 1, "random was not shown");

    // A follower moves it as messages come (written at most once a second, not only at the end).
    const follower = new GmProcess(
      ["user", "messages", "random", "--follow", "--profile", "dora", "--server", directory.endpoint],
      env,
    );
    stoppable.push(follower);
    await follower.waitFor(/: r1$/m);
    await ok("bob", "send", "random", "r2");
    await follower.waitFor(/: r2$/m);
    await until(async () => (await unreadIn("dora", "random"))?.read === 2, "the follower's marker is written");
    await follower.stop();

    // So does a shell's live view: the message it prints is read.
    const shell = new GmProcess(["user", "shell", "--profile", "dora", "--server", directory.endpoint], env);
    stoppable.push(shell);
    shell.write("show_groups");
    await shell.waitFor(/^random\s/m);
    await until(
      async () => {
        await ok("bob", "send", "general", `live${Date.now()}`);
        return /#general bob \([0-9a-f]{8}\): live/.test(shell.stdout);
      },
      "the shell follows general live",
      30_000,
    );
    await until(async () => (await unreadIn("dora", "general"))?.unread === 0, "the shell's marker is written");
    shell.write("exit");
    assert.equal(await shell.exited, 0, shell.stderr);
  });

  it("a group whose server does not answer shows ? and the command still succeeds", async () => {
    const side = await groupServer(["side"]);
    await ok("erin", "join", "general");
    await ok("erin", "join", "side");
    await side.proc.stop();
    const r = await ok("erin", "groups");
    assert.match(r.stdout, /^side\s+\?\s+/m);
    assert.match(r.stdout, /^general\s+0\s+/m);
    assert.match(r.stderr, /\?: the group's server did not answer/);
    assert.equal((await unreadIn("erin", "side"))?.unread, null);
  });

  it("a new display name reaches every joined group at once; one that cannot be reached is reported", {
    timeout: 60_000,
  }, async () => {
    const spare = await groupServer(["spare"]);
    await ok("fay", "join", "general");
    await ok("fay", "join", "spare");
    await spare.proc.stop();
    const uuid = (JSON.parse((await ok("fay", "whoami", "--json")).stdout) as { uuid: string }).uuid;
    const joins = () => group.proc.stdout.split(`JOIN REQUEST FROM ${uuid}`).length - 1;
    await until(async () => joins() === 1, "general's server logs fay's first JOIN");
    const before = joins();

    const r = await ok("fay", "whoami", "--display-name", "Fay Two");
    assert.match(r.stdout, /^name\s+Fay Two$/m);
    assert.match(r.stderr, /Your name "Fay Two" now shows in general/);
    assert.match(
      r.stderr,
      /warning: could not give spare your new name now \(.*\); it goes with your next message there/,
    );
    await until(async () => joins() === before + 1, "general's server logs fay's JOIN");
    const groups = await joined("fay");
    assert.equal(groups.find((g) => g.name === "general")?.displayName, "Fay Two");
    assert.notEqual(groups.find((g) => g.name === "spare")?.displayName, "Fay Two", "spare still needs it");

    // The name is there already: a message needs no JOIN first, and carries it.
    await ok("fay", "send", "general", "renamed");
    const messages = JSON.parse((await ok("fay", "messages", "general", "--json", "--limit", "1")).stdout) as Array<{
      name: string;
      text: string;
    }>;
    assert.deepEqual(
      messages.map((m) => [m.name, m.text]),
      [["Fay Two", "renamed"]],
    );
    assert.equal(joins(), before + 1);
  });

  it("leave is idempotent, and --force forgets a group whose server is gone", { timeout: 60_000 }, async () => {
    const none = await ok("gus", "leave", "general");
    assert.match(none.stdout, /^Not a member of general: nothing to leave$/m);
    await ok("gus", "join", "general");
    assert.match((await ok("gus", "leave", "general")).stdout, /^Left general \(\d+ members remain\)$/m);
    assert.match((await ok("gus", "leave", "general")).stdout, /nothing to leave/);

    const gone = await groupServer(["gone"]);
    await ok("gus", "join", "gone");
    await gone.proc.stop();
    const failed = await user("gus", "leave", "gone");
    assert.notEqual(failed.exitCode, 0, failed.stderr);
    assert.match(failed.stderr, /\nHint: to forget the group anyway: gm user leave gone --force --profile gus /);
    const forced = await ok("gus", "leave", "gone", "--force");
    assert.match(
      forced.stdout,
      /^Forgot gone without reaching its server \(tcp:\/\/127\.0\.0\.1:\d+\): it may still list you/m,
    );
    assert.deepEqual(
      (await joined("gus")).map((g) => g.name),
      [],
    );
    const shell = await gm(["user", "shell", "--profile", "gus", "--server", directory.endpoint], {
      env,
      input: "leave_group general\n",
    });
    assert.equal(shell.exitCode, 0, shell.stderr);
    assert.match(shell.stdout, /Not a member of general: nothing to leave/);
  });

  it("a group whose server stopped fails at once; one registered but silent is waited for", {
    timeout: 90_000,
  }, async () => {
    const brief = await groupServer(["brief"]);
    await ok("hal", "join", "brief");
    await brief.proc.stop(); // a clean stop: it unregisters
    // Tries of a minute: waiting them out would take three minutes, far past the helper's 20 s.
    const slow = { ...env, GM_REQUEST_TIMEOUT_MS: "60000" };
    const send = (profile: string, name: string, e: NodeJS.ProcessEnv) =>
      gm(["user", "send", name, "hello", "--profile", profile, "--server", directory.endpoint], { env: e });
    const r = await send("hal", "brief", slow);
    assert.equal(r.exitCode, 1, r.stderr);
    assert.match(
      r.stderr,
      /Error: group "brief" is not being served right now: its server \(tcp:\/\/127\.0\.0\.1:\d+\) does not answer and the message server \(tcp:\/\/127\.0\.0\.1:\d+\) does not list it/,
    );
    assert.match(
      (await gm(["user", "messages", "brief", "--profile", "hal", "--server", directory.endpoint], { env: slow }))
        .stderr,
      /not being served right now/,
    );

    // Registered, refreshing, but its address says nothing: the usual tries, then "no reply" (exit 3).
    const hole = await blackHole();
    stoppable.push({ stop: hole.close });
    const silent = await startGroup(["silent"], {
      env,
      server: directory.endpoint,
      dataDir,
      extra: ["--quiet"],
    });
    stoppable.push(silent.proc);
    await ok("hal", "join", "silent");
    await silent.proc.stop();
    const again = await startGroup(["silent"], {
      env,
      server: directory.endpoint,
      dataDir,
      extra: ["--advertise", `tcp://127.0.0.1:${hole.port}`],
    });
    stoppable.push(again.proc);
    const quick = { ...env, GM_REQUEST_TIMEOUT_MS: "500" };
    const waited = await send("hal", "silent", quick);
    assert.equal(waited.exitCode, 3, waited.stderr);
    assert.match(waited.stderr, /no reply from tcp:\/\/127\.0\.0\.1:\d+ after 3 tries/);
    assert.doesNotMatch(waited.stderr, /not being served/);
  });

  it("login remembers the message server and its key; flag > GM_SERVER > profile > default", {
    timeout: 60_000,
  }, async () => {
    // Another machine's user: no local key to find, so the key must be given once.
    const other = tempHome();
    try {
      const run = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
        runToExit([BIN, "user", ...args, "--profile", "ivy"], {
          env: { ...gmEnv({ GM_HOME: other.home }, ["GM_SERVER", "GM_SERVER_KEY"]), ...extra },
          timeoutMs: 20_000,
          label: `gm user ${args.join(" ")}`,
        });
      const whoami = async (extra: NodeJS.ProcessEnv = {}, args: string[] = []) =>
        JSON.parse((await run(["whoami", "--json", ...args], extra)).stdout) as {
          server: string;
          serverSource: string;
          serverKeys: Record<string, string>;
        };
      assert.deepEqual(
        { ...(await whoami()) },
        { ...(await whoami()), server: "tcp://127.0.0.1:5555", serverSource: "default" },
      );

      const keyless = await run(["login", directory.endpoint]);
      assert.equal(keyless.exitCode, 2, keyless.stderr);
      assert.match(keyless.stderr, /no public key known for the message server/);

      const closed = await blackHole();
      await closed.close(); // nothing listens there now
      const dead = await run(["login", `127.0.0.1:${closed.port}`, "--server-key", directory.key], {
        GM_REQUEST_TIMEOUT_MS: "300",
        GM_REQUEST_TRIES: "1",
      });
      assert.equal(dead.exitCode, 3, dead.stderr);
      assert.equal((await whoami()).serverSource, "default", "a server that did not answer is not saved");

      const login = await run(["login", directory.endpoint, "--server-key", directory.key]);
      assert.equal(login.exitCode, 0, login.stderr);
      assert.match(
        login.stdout,
        /^Logged in to tcp:\/\/127\.0\.0\.1:\d+ \(\d+ groups there\) as ivy \([0-9a-f]{8}\); saved in profile "ivy"$/m,
      );
      const saved = await whoami();
      assert.equal(saved.server, directory.endpoint);
      assert.equal(saved.serverSource, "profile");
      assert.equal(saved.serverKeys[directory.endpoint], directory.key);
      assert.match((await run(["whoami"])).stdout, /^server\s+tcp:\/\/127\.0\.0\.1:\d+\s+\(the profile's\)$/m);
      const listed = await run(["list-groups"]);
      assert.equal(listed.exitCode, 0, listed.stderr);
      assert.match(listed.stdout, /^general\s/m);

      const elsewhere = "tcp://127.0.0.1:1";
      assert.deepEqual(
        { ...(await whoami({ GM_SERVER: elsewhere })) },
        { ...(await whoami({ GM_SERVER: elsewhere })), server: elsewhere, serverSource: "GM_SERVER" },
      );
      const flagged = await whoami({ GM_SERVER: elsewhere }, ["--server", "tcp://127.0.0.1:2"]);
      assert.equal(flagged.server, "tcp://127.0.0.1:2");
      assert.equal(flagged.serverSource, "--server");
      const shadowed = await run(["login", directory.endpoint], { GM_SERVER: elsewhere });
      assert.equal(shadowed.exitCode, 0, shadowed.stderr);
      assert.match(shadowed.stderr, /GM_SERVER=tcp:\/\/127\.0\.0\.1:1 is set and comes before the profile's server/);
      const file = JSON.parse(readFileSync(join(other.home, "profiles", "ivy.json"), "utf8")) as { server: string };
      assert.equal(file.server, directory.endpoint);
    } finally {
      other.cleanup();
    }
  });
});
