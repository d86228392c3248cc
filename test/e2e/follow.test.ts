/**
 * Following every group a profile is in, live, through the real binary (`gm user follow`,
 * `gm user messages --follow` with several groups or --all, and the shell), across two group
 * servers, with joins and leaves made by other processes while they run.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { GmProcess, gm, startDirectory, startGroup, tempHome } from "../helpers/gm.js";

/** A message line as followers print it: `[time] #group name (fingerprint): text`. */
const line = (group: string, name: string, text: string) =>
  new RegExp(`^\\[\\d\\d:\\d\\d:\\d\\d\\] #${group} ${name} \\([0-9a-f]{8}\\): ${text}$`, "m");

describe("following every group", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home };
  let directory: { proc: GmProcess; endpoint: string };
  let one: { proc: GmProcess; endpoint: string };
  let two: { proc: GmProcess; endpoint: string };
  const running: GmProcess[] = [];
  const user = async (profile: string, ...args: string[]) => {
    const r = await gm(["user", ...args, "--profile", profile, "--server", directory.endpoint], { env });
    assert.equal(r.exitCode, 0, `gm user ${args.join(" ")}: ${r.stderr}`);
    return r;
  };
  const start = (profile: string, ...args: string[]) => {
    const p = new GmProcess(["user", ...args, "--profile", profile, "--server", directory.endpoint], env);
    running.push(p);
    return p;
  };

  before(async () => {
    directory = await startDirectory(env);
    // Two group servers: alpha and gamma on one, beta on the other.
    one = await startGroup(["alpha", "gamma"], { env, server: directory.endpoint, dataDir: join(home, "one") });
    two = await startGroup(["beta"], { env, server: directory.endpoint, dataDir: join(home, "two") });
    for (const p of ["ada", "bob", "cy"]) {
      await user(p, "join", "alpha");
      await user(p, "join", "beta");
    }
    await user("bob", "join", "gamma");
  });

  after(async () => {
    await Promise.all([...running.map((p) => p.stop()), one?.proc.stop(), two?.proc.stop(), directory?.proc.stop()]);
    cleanup();
  });

  it("`gm user follow` prints both servers' groups, picks up a join and drops a leave made elsewhere", async () => {
    const ada = start("ada", "follow");
    await ada.waitFor(/^following "alpha", "beta" and the groups you join/m, 15_000, "stderr");
    await user("bob", "send", "alpha", "one-alpha");
    await user("bob", "send", "beta", "one-beta");
    await ada.waitFor(line("alpha", "bob", "one-alpha"));
    await ada.waitFor(line("beta", "bob", "one-beta"));

    // Joined from another process after the follower started: followed from the join on.
    await user("ada", "join", "gamma");
    await user("bob", "send", "gamma", "one-gamma");
    await ada.waitFor(line("gamma", "bob", "one-gamma"));
    await ada.waitFor(/^now following "gamma"$/m, 15_000, "stderr");

    // Left from another process: stopped, and said so; a later message there is not printed.
    await user("ada", "leave", "beta");
    await ada.waitFor(/^stopped following "beta": you are not a member of "beta" any more/m, 15_000, "stderr");
    await user("bob", "send", "beta", "after-leave");
    await user("bob", "send", "alpha", "later");
    await ada.waitFor(line("alpha", "bob", "later"));
    assert.doesNotMatch(ada.stdout, /after-leave/);

    assert.equal(await ada.stop("SIGINT"), 0, "Ctrl-C ends it cleanly");
    const printed = ada.stdout
      .trim()
      .split("\n")
      .map((l) => /^\[[\d:]+\] #(\w+) bob \([0-9a-f]{8}\): (.*)$/.exec(l)?.slice(1).join(" "));
    assert.deepEqual(
      printed.sort(),
      ["alpha later", "alpha one-alpha", "beta one-beta", "gamma one-gamma"],
      "each message once, nothing else on stdout",
    );
  });

  it("--json prints one object per line with its group", async () => {
    const cy = start("cy", "follow", "--json");
    await cy.waitFor(/^following "alpha", "beta"/m, 15_000, "stderr");
    await user("bob", "send", "alpha", "json-alpha");
    await user("bob", "send", "beta", "json-beta");
    await cy.waitFor(/"json-beta"/);
    await cy.waitFor(/"json-alpha"/);
    const objects = cy.stdout
      .trim()
      .split("\n")
      .map(
        (l) => JSON.parse(l) as { group: string; text: string; seq: number; name: string; ts: number; time: string },
      );
    assert.deepEqual(objects.map((o) => [o.group, o.text, o.name]).sort(), [
      ["alpha", "json-alpha", "bob"],
      ["beta", "json-beta", "bob"],
    ]);
    assert.ok(objects.every((o) => Number.isInteger(o.seq)));
    assert.ok(
      objects.every((o) => o.time === new Date(o.ts).toISOString()),
      "each has its time, as messages --json",
    );
    assert.equal(await cy.stop("SIGINT"), 0);
    // What it printed counts as read, as for messages and the shell.
    for (const group of ["alpha", "beta"]) {
      assert.match((await user("cy", "messages", group, "--unread")).stdout, /^No unread messages\.$/m);
    }
  });

  it("`messages --follow` takes several groups, with their history first, or --all", async () => {
    const named = start("cy", "messages", "alpha", "beta", "--follow", "--limit", "1", "--json");
    await named.waitFor(/^following "alpha", "beta";/m, 15_000, "stderr");
    const history = named.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { group: string; text: string });
    assert.deepEqual(history.map((o) => [o.group, o.text]).sort(), [
      ["alpha", "json-alpha"],
      ["beta", "json-beta"],
    ]);
    const all = start("cy", "messages", "--all", "--follow");
    await all.waitFor(/^following "alpha", "beta" and the groups you join/m, 15_000, "stderr");
    await user("bob", "send", "beta", "for-both");
    await named.waitFor(/"for-both"/);
    await all.waitFor(line("beta", "bob", "for-both"));
    assert.equal(await named.stop("SIGINT"), 0);
    assert.equal(await all.stop("SIGTERM"), 0);

    const without = await gm(["user", "messages", "alpha", "beta", "--profile", "cy"], { env });
    assert.equal(without.exitCode, 2);
    assert.match(without.stderr, /several groups need --follow/);
  });

  it("named groups that all end make it exit 1 with the reason", async () => {
    await user("cy", "join", "gamma");
    const cy = start("cy", "follow", "gamma");
    await cy.waitFor(/^following "gamma";/m, 15_000, "stderr");
    await user("cy", "leave", "gamma");
    assert.equal(await cy.exited, 1);
    assert.match(cy.stderr, /not a member of "gamma" any more/);
  });

  it("the shell follows a group joined, and stops one left, from another process", async () => {
    const shell = start("dee", "shell");
    shell.write("show_groups");
    await shell.waitFor(/You have not joined any group\./);
    await user("dee", "join", "alpha");
    await user("bob", "send", "alpha", "for-dee");
    await shell.waitFor(line("alpha", "bob", "for-dee"));
    await user("dee", "leave", "alpha");
    await shell.waitFor(/^stopped following "alpha": you are not a member of "alpha" any more/m);
    shell.write("exit");
    assert.equal(await shell.exited, 0, shell.stderr);
  });
});
