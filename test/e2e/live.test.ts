/** Live delivery: followers get every message once, in order, across leave, restarts and gaps. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { GmProcess, gm, startDirectory, startGroup, tempHome } from "../helpers/gm.js";

interface Line {
  seq: number;
  text: string;
}

/** Parses the NDJSON a `--follow --json` process printed so far. */
const lines = (p: GmProcess): Line[] =>
  p.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Line);

describe("live delivery", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home };
  const dataDir = join(home, "data");
  let directory: { proc: GmProcess; endpoint: string };
  let group: { proc: GmProcess; endpoint: string };
  const followers: GmProcess[] = [];
  const user = (profile: string, ...args: string[]) =>
    gm(["user", ...args, "--profile", profile, "--server", directory.endpoint], { env });
  const follow = async (profile: string, ...args: string[]) => {
    const p = new GmProcess(
      [
        "user",
        "messages",
        "general",
        "--follow",
        "--json",
        "--profile",
        profile,
        "--server",
        directory.endpoint,
        ...args,
      ],
      env,
    );
    followers.push(p);
    return p;
  };
  const send = async (profile: string, text: string) => {
    const r = await user(profile, "send", "general", text);
    assert.equal(r.exitCode, 0, r.stderr);
  };

  before(async () => {
    directory = await startDirectory(env);
    group = await startGroup(["general"], { env, server: directory.endpoint, dataDir });
    for (const p of ["alice", "bob", "carol"]) assert.equal((await user(p, "join", "general")).exitCode, 0);
  });

  after(async () => {
    await Promise.all([...followers.map((f) => f.stop()), group?.proc.stop(), directory?.proc.stop()]);
    cleanup();
  });

  it("prints history, then new messages as they arrive, one JSON object per line", async () => {
    await send("alice", "before-1");
    await send("alice", "before-2");
    const bob = await follow("bob");
    await bob.waitFor(/"before-2"/);
    await send("alice", "live-1");
    await send("carol", "live-2");
    await bob.waitFor(/"live-2"/);
    assert.deepEqual(
      lines(bob).map((l) => [l.seq, l.text]),
      [
        [1, "before-1"],
        [2, "before-2"],
        [3, "live-1"],
        [4, "live-2"],
      ],
    );
    const recent = await follow("carol", "--limit", "1");
    await recent.waitFor(/"live-2"/);
    await send("alice", "live-3");
    await recent.waitFor(/"live-3"/);
    assert.deepEqual(
      lines(recent).map((l) => l.text),
      ["live-2", "live-3"],
    );
    assert.equal(await recent.stop("SIGINT"), 0, "Ctrl-C ends a follower cleanly");
  });

  it("stops delivering to a member who leaves", async () => {
    const carol = await follow("carol", "--since", "1s");
    await send("alice", "for-carol");
    await carol.waitFor(/"for-carol"/);
    const left = await user("carol", "leave", "general");
    assert.equal(left.exitCode, 0, left.stderr);
    await send("alice", "after-carol-left");
    // The follower is told it is no longer a member at its next refresh, and exits with an error:
    // with --json, one JSON object on stdout after the messages.
    assert.equal(await carol.exited, 1);
    const { error } = JSON.parse(carol.stdout.trim().split("\n").at(-1) as string);
    assert.equal(error.code, "NOT_MEMBER");
    assert.match(error.message, /not a member of "general"/);
    assert.doesNotMatch(carol.stdout, /after-carol-left/);
  });

  it("resumes after the group server restarts, with nothing missed or repeated", async (t) => {
    const bob = followers[0] as GmProcess;
    const before = lines(bob).length;
    await group.proc.stop("SIGKILL");
    group = await startGroup(["general"], { env, server: directory.endpoint, dataDir, address: group.endpoint });
    const restarted = Date.now();
    await send("alice", "after-restart-1");
    await bob.waitFor(/"after-restart-1"/);
    t.diagnostic(`follower resumed ${Date.now() - restarted} ms after the group server was back`);
    await send("alice", "after-restart-2");
    await bob.waitFor(/"after-restart-2"/);
    const got = lines(bob);
    assert.ok(got.length > before);
    assert.deepEqual(
      got.map((l) => l.seq),
      got.map((_, i) => i + 1),
      "every sequence number exactly once, in order",
    );
    const history = JSON.parse((await user("bob", "messages", "general", "--json")).stdout) as Line[];
    assert.deepEqual(
      got.map((l) => l.text),
      history.map((l) => l.text),
    );
  });

  it("the shell shows new messages of the groups its profile joined before it started", async () => {
    const joined = await user("dave", "join", "general");
    assert.equal(joined.exitCode, 0, joined.stderr);
    const shell = new GmProcess(["user", "shell", "--profile", "dave", "--server", directory.endpoint], env);
    followers.push(shell);
    // Once a command has run, the shell follows its groups from a moment before this send.
    shell.write("show_groups");
    await shell.waitFor(/^general\s/m);
    await send("alice", "for-the-shell");
    await shell.waitFor(/#general alice \([0-9a-f]{8}\): for-the-shell$/m);
    shell.write("exit");
    assert.equal(await shell.exited, 0, shell.stderr);
  });
});
