/**
 * `gm user members` and the shell's `show_members`: who is in a group and who follows it now,
 * through the real binary, with a follower (`messages --follow`) running in its own process.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { GmProcess, gm, startDirectory, startGroup, tempHome } from "../helpers/gm.js";

interface Listed {
  group: string;
  count: number;
  online: number;
  window: number;
  owner: string | null;
  members: Array<{ name: string; fingerprint: string; user: string; online: boolean; owner: boolean; you: boolean }>;
}

describe("gm user members", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home };
  let directory: { proc: GmProcess; endpoint: string };
  let group: { proc: GmProcess; endpoint: string };
  let follower: GmProcess | undefined;
  const user = (profile: string, ...args: string[]) =>
    gm(["user", ...args, "--profile", profile, "--server", directory.endpoint], { env });

  before(async () => {
    directory = await startDirectory(env);
    group = await startGroup(["general"], { env, server: directory.endpoint, dataDir: join(home, "data") });
    for (const p of ["alice", "bob"]) {
      const r = await user(p, "join", "general", "--display-name", p === "alice" ? "Alice" : "Bob");
      assert.equal(r.exitCode, 0, r.stderr);
    }
  });

  after(async () => {
    await Promise.all([follower?.stop(), group?.proc.stop(), directory?.proc.stop()]);
    cleanup();
  });

  it("shows a member following the group as online, and one who is not as offline", async () => {
    assert.equal((await user("bob", "send", "general", "hello")).exitCode, 0);
    follower = new GmProcess(
      ["user", "messages", "general", "--follow", "--profile", "alice", "--server", directory.endpoint],
      env,
    );
    // History comes after the follower's SUBSCRIBE: once it shows, the server has seen Alice follow.
    await follower.waitFor(/hello/);

    const r = await user("bob", "members", "general", "--json");
    assert.equal(r.exitCode, 0, r.stderr);
    const listed = JSON.parse(r.stdout) as Listed;
    assert.equal(listed.group, "general");
    assert.equal(listed.count, 2);
    assert.equal(listed.online, 1);
    assert.equal(listed.window, 10_000);
    const row = (name: string) => listed.members.find((m) => m.name === name);
    assert.deepEqual(
      listed.members.map((m) => [m.name, m.online, m.owner, m.you]),
      [
        ["Alice", true, true, false], // the first to join owns the group
        ["Bob", false, false, true],
      ],
    );
    assert.equal(listed.owner, row("Alice")?.user);
    assert.match(row("Bob")?.fingerprint ?? "", /^[0-9a-f]{8}$/);

    const text = await user("bob", "members", "general");
    assert.equal(text.exitCode, 0, text.stderr);
    const lines = text.stdout.trimEnd().split("\n");
    assert.match(lines[0] ?? "", /^NAME\s+FINGERPRINT\s+JOINED\s+STATUS\s+ROLE$/);
    assert.match(lines[1] ?? "", new RegExp(`^Alice\\s+${row("Alice")?.fingerprint}\\s+\\S+\\s+online\\s+owner$`));
    assert.match(lines[2] ?? "", new RegExp(`^Bob\\s+${row("Bob")?.fingerprint}\\s+\\S+\\s+offline\\s+you$`));
    assert.equal(lines[3], "2 members of general, 1 online (following it within the last 10 s)");
  });

  it("the shell's show_members prints the same table", async () => {
    const r = await gm(["user", "shell", "--profile", "bob", "--server", directory.endpoint], {
      env,
      input: "show_members general\nshow_members\n",
    });
    assert.match(r.stdout, /^NAME\s+FINGERPRINT\s+JOINED\s+STATUS\s+ROLE$/m);
    assert.match(r.stdout, /^Alice\s+[0-9a-f]{8}\s+\S+\s+online\s+owner$/m);
    assert.match(r.stdout, /^2 members of general, \d online/m);
    assert.match(r.stdout, /error: usage: show_members <group_name>/);
    assert.equal(r.exitCode, 1, "the line without a group failed");
  });

  it("refuses a user who is not a member, with exit code 1", async () => {
    const r = await user("carol", "members", "general");
    assert.equal(r.exitCode, 1, r.stdout);
    assert.match(
      r.stderr,
      /^Error: you are not a member of "general": only its members and its owner see who is in it \(NOT_MEMBER\)\nHint: join it first: gm user join general --profile carol --server tcp:\/\/127\.0\.0\.1:\d+$/m,
    );
    assert.equal(r.stdout, "");
    const unknown = await user("carol", "members", "nowhere");
    assert.equal(unknown.exitCode, 1);
    assert.match(unknown.stderr, /no group named "nowhere" is registered/);
  });
});
