/**
 * Group names that differ only in case are one name (PROTOCOL.md §4), with the real processes: one
 * group, one store file, one directory entry, found by users in any case.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Profile } from "../../src/user/profile.js";
import { type GmProcess, gm, startDirectory, startGroup, tempHome } from "../helpers/gm.js";

describe("look-alike group names", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home };
  const dataDir = join(home, "data");
  let directory: { proc: GmProcess; endpoint: string; key: string };
  let group: { proc: GmProcess; endpoint: string } | undefined;
  const user = (...args: string[]) => gm(["user", ...args, "--server", directory.endpoint], { env });

  before(async () => {
    directory = await startDirectory(env);
    group = await startGroup(["general"], { env, server: directory.endpoint, dataDir });
  });

  after(async () => {
    await Promise.all([group?.proc.stop(), directory?.proc.stop()]);
    cleanup();
  });

  it("gm group --name general --name GENERAL is bad usage (exit 2)", async () => {
    const r = await gm(
      ["group", "--name", "general", "--name", "GENERAL", "--address", "127.0.0.1:0", "--server", directory.endpoint],
      { env: { ...env, GM_HOME: join(home, "other") } },
    );
    assert.equal(r.exitCode, 2, r.stderr);
    assert.match(r.stderr, /"general" and "GENERAL" are one group name/);
  });

  it("gm user join GENERAL joins general, remembered as general; either spelling works after", async () => {
    const joined = await user("join", "GENERAL");
    assert.equal(joined.exitCode, 0, joined.stderr);
    assert.deepEqual(Object.keys(Profile.load("default", home).data.groups), ["general"]);
    const sent = await user("send", "GENERAL", "hello", "in", "capitals");
    assert.equal(sent.exitCode, 0, sent.stderr);
    assert.match(sent.stdout, /^Sent to general as #1 /, "the group's own spelling, not the one typed");
    const sent2 = await user("send", "general", "and", "in", "lower", "case");
    assert.equal(sent2.exitCode, 0, sent2.stderr);
    const read = await user("messages", "General", "--json");
    assert.equal(read.exitCode, 0, read.stderr);
    assert.deepEqual(
      (JSON.parse(read.stdout) as { text: string }[]).map((m) => m.text),
      ["hello in capitals", "and in lower case"],
    );
    const listed = await user("list-groups", "--json");
    assert.deepEqual(
      (JSON.parse(listed.stdout) as { name: string }[]).map((g) => g.name),
      ["general"],
    );
  });

  it("a restart as GENERAL serves general's store: no second file, the messages are there", async () => {
    await group?.proc.stop();
    group = undefined;
    group = await startGroup(["GENERAL"], { env, server: directory.endpoint, dataDir });
    const stores = readdirSync(dataDir).filter((f) => /\.(db|hwm)$/.test(f));
    assert.deepEqual(stores.sort(), ["general.db", "general.hwm"]);
    const read = await user("messages", "GENERAL", "--json");
    assert.equal(read.exitCode, 0, read.stderr);
    assert.equal((JSON.parse(read.stdout) as unknown[]).length, 2);
    const listed = await user("list-groups", "--json");
    assert.deepEqual(
      (JSON.parse(listed.stdout) as { name: string }[]).map((g) => g.name),
      ["general"],
    );
  });
});
