/**
 * A real `gm group` whose store lost acknowledged messages (its WAL deleted after a SIGKILL, its
 * database replaced by a 0-byte file) refuses to start, naming the file (exit 1); `gm group
 * --check` reports the damage; --accept-loss serves it with numbering after the last acknowledged seq.
 */
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { awaitReady } from "../../support/gm-process.js";
import { GmProcess, gm, startDirectory, startGroup, tempHome } from "../helpers/gm.js";

describe("damaged group stores", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home };
  const dataDir = join(home, "data");
  const file = join(dataDir, "general.db");
  let directory: { proc: GmProcess; endpoint: string };
  let group: { proc: GmProcess; endpoint: string } | undefined;
  const running = () => group as { proc: GmProcess; endpoint: string };
  /** The group's address, kept across restarts: the directory still lists a killed group there. */
  let address: string | undefined;
  const user = (...args: string[]) =>
    gm(["user", ...args, "--profile", "alice", "--server", directory.endpoint], { env });
  const start = (extra: string[] = []) =>
    startGroup(["general"], { env, server: directory.endpoint, dataDir, extra, ...(address && { address }) }).then(
      (g) => {
        group = g;
        address = g.endpoint;
      },
    );
  const startFails = () =>
    gm(
      [
        "group",
        "--name",
        "general",
        "--address",
        address ?? "127.0.0.1:0",
        "--server",
        directory.endpoint,
        "--data-dir",
        dataDir,
      ],
      {
        env,
      },
    );
  const check = () => gm(["group", "--check", "--name", "general", "--data-dir", dataDir], { env });

  before(async () => {
    directory = await startDirectory(env);
  });

  after(async () => {
    await Promise.all([group?.proc.stop(), directory?.proc.stop()]);
    cleanup();
  });

  it("refuses a store whose WAL was deleted after acknowledged sends, and never reuses a seq", async () => {
    await start();
    assert.equal((await user("join", "general")).exitCode, 0);
    for (const t of ["m1", "m2"]) assert.equal((await user("send", "general", t)).exitCode, 0);
    await group?.proc.stop("SIGTERM"); // a clean close: m1, m2 are in the database file
    await start();
    for (const t of ["m3", "m4", "m5"]) assert.equal((await user("send", "general", t)).exitCode, 0);
    await group?.proc.stop("SIGKILL"); // m3..m5 are only in the WAL
    group = undefined;
    assert.equal((await check()).exitCode, 0, "an undamaged store checks ok");
    rmSync(`${file}-wal`);

    const refused = await startFails();
    assert.equal(refused.exitCode, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /went backwards: its messages end at seq 2, but .* up to seq 5/);
    assert.ok(refused.stderr.includes(file), refused.stderr);
    // The advice is the exact command lines to run, with this command's own flags.
    const again = `gm group --name general --address ${address} --server ${directory.endpoint} --data-dir ${dataDir}`;
    assert.ok(refused.stderr.includes(`run \`${again} --accept-loss\` to serve what is left`), refused.stderr);
    assert.ok(refused.stderr.includes(`\`gm group --check --name general --data-dir ${dataDir}\``), refused.stderr);
    const report = await check();
    assert.equal(report.exitCode, 1);
    assert.match(report.stdout, /DAMAGED[\s\S]*behind the mark \(5\)/);

    await start(["--accept-loss"]);
    assert.match(running().proc.stdout, /ACCEPTED LOSS: .* lost seqs 3\.\.5/);
    assert.match(running().proc.stdout, /\n {2}last seq {6}5\n/, "the banner's figure is the last seq, named so");
    const next = await user("send", "general", "after the loss", "--json");
    assert.equal(JSON.parse(next.stdout).seq, 6, "numbering continues after the last acknowledged seq");
    await running().proc.stop("SIGTERM");
    group = undefined;
    const fine = await check();
    assert.equal(fine.exitCode, 0, fine.stdout);
    assert.match(fine.stdout, /seqs 3\.\.5 are a gap/);
  });

  it("refuses a database replaced by a 0-byte file instead of starting a new group", async () => {
    writeFileSync(file, "");
    rmSync(`${file}-wal`, { force: true });
    const refused = await startFails();
    assert.equal(refused.exitCode, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /is empty \(0 bytes\), but its high-water mark .* up to seq 6/);
    assert.ok(refused.stderr.includes(file));
    assert.equal((await check()).exitCode, 1);
  });
});

describe("damaged group stores under gm up", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home };
  const dataDir = join(home, "data");
  const file = join(dataDir, "general.db");
  let up: GmProcess | undefined;
  let server = "";
  const args = (extra: string[] = []) => [
    "up",
    "--group",
    "general",
    "--bind",
    "127.0.0.1:0",
    "--address",
    "127.0.0.1:0",
    "--data-dir",
    dataDir,
    ...extra,
  ];
  const start = async (extra: string[] = []) => {
    up = new GmProcess(args(extra), env);
    const m = await awaitReady(up, /gm up: message server on (tcp:\/\/\S+); groups general on \S+ \(pid \d+\)/, 15_000);
    server = m[1] as string;
  };
  const user = (...a: string[]) => gm(["user", ...a, "--profile", "alice", "--server", server], { env });

  after(async () => {
    await up?.stop();
    cleanup();
  });

  it("refuses a store that lost acknowledged messages, naming the file; --accept-loss serves it after the mark", async () => {
    await start();
    assert.equal((await user("join", "general")).exitCode, 0);
    for (const t of ["m1", "m2"]) assert.equal((await user("send", "general", t)).exitCode, 0);
    await up?.stop("SIGTERM"); // a clean close: m1, m2 are in the database file
    await start();
    for (const t of ["m3", "m4", "m5"]) assert.equal((await user("send", "general", t)).exitCode, 0);
    await up?.stop("SIGKILL"); // m3..m5 are only in the WAL
    up = undefined;
    rmSync(`${file}-wal`);

    const refused = await gm(args(), { env });
    assert.equal(refused.exitCode, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /went backwards: its messages end at seq 2, but .* up to seq 5/);
    assert.ok(refused.stderr.includes(file), refused.stderr);
    assert.ok(refused.stderr.includes(`run \`gm ${args().join(" ")} --accept-loss\``), refused.stderr);
    assert.ok(refused.stderr.includes(`\`gm group --check --name general --data-dir ${dataDir}\``), refused.stderr);

    await start(["--accept-loss"]);
    assert.match((up as GmProcess | undefined)?.stdout ?? "", /ACCEPTED LOSS: .* lost seqs 3\.\.5/);
    const next = await user("send", "general", "after the loss", "--json");
    assert.equal(next.exitCode, 0, next.stderr);
    assert.equal(JSON.parse(next.stdout).seq, 6, "numbering continues after the last acknowledged seq");
    const history = await user("messages", "general", "--json");
    assert.equal(history.exitCode, 0, history.stderr);
    const stored = JSON.parse(history.stdout) as Array<{ seq: number; text: string }>;
    assert.deepEqual(
      stored.map((m) => [m.seq, m.text]),
      [
        [1, "m1"],
        [2, "m2"],
        [6, "after the loss"],
      ],
      "the lost seqs 3..5 stay a gap",
    );
  });
});
