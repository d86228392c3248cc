/** A group server stopped (cleanly or by SIGKILL) and started again keeps its members and messages. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type GmProcess, gm, startDirectory, startGroup, tempHome } from "../helpers/gm.js";

describe("restart", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home };
  const dataDir = join(home, "data");
  let directory: { proc: GmProcess; endpoint: string };
  let group: { proc: GmProcess; endpoint: string } | undefined;
  const user = (profile: string, ...args: string[]) =>
    gm(["user", ...args, "--profile", profile, "--server", directory.endpoint], { env });
  const restart = async (signal: NodeJS.Signals) => {
    const address = (group as { endpoint: string }).endpoint;
    const code = await group?.proc.stop(signal);
    if (signal === "SIGTERM") assert.equal(code, 0, "a clean shutdown exits 0");
    group = await startGroup(["general"], { env, server: directory.endpoint, dataDir, address });
  };

  before(async () => {
    directory = await startDirectory(env);
    group = await startGroup(["general"], { env, server: directory.endpoint, dataDir });
  });

  after(async () => {
    await Promise.all([group?.proc.stop(), directory?.proc.stop()]);
    cleanup();
  });

  it("keeps members and messages across SIGTERM and SIGKILL", async () => {
    for (const p of ["alice", "bob"]) assert.equal((await user(p, "join", "general")).exitCode, 0);
    for (let i = 1; i <= 5; i++)
      assert.equal((await user(i % 2 ? "alice" : "bob", "send", "general", `m${i}`)).exitCode, 0);

    await restart("SIGTERM");
    assert.match(group?.proc.stdout ?? "", /members\s+2\n\s+last seq\s+5\n/);
    assert.equal((await user("alice", "send", "general", "m6")).exitCode, 0);

    await restart("SIGKILL");
    assert.match(group?.proc.stdout ?? "", /members\s+2\n\s+last seq\s+6\n/);
    const r = await user("bob", "messages", "general", "--json");
    assert.equal(r.exitCode, 0, r.stderr);
    const messages = JSON.parse(r.stdout) as Array<{ seq: number; text: string }>;
    assert.deepEqual(
      messages.map((m) => [m.seq, m.text]),
      [1, 2, 3, 4, 5, 6].map((i) => [i, `m${i}`]),
    );
    const next = await user("bob", "send", "general", "after the crash", "--json");
    assert.equal(JSON.parse(next.stdout).seq, 7, "sequence numbers continue after a restart");
  });
});
