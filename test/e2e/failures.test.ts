/**
 * Processes die and come back: nothing acknowledged is lost or duplicated, the directory heals
 * itself from heartbeats, and clients give clear errors or carry on.
 */
import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { GmProcess, gm, startDirectory, startGroup, tempHome } from "../helpers/gm.js";

const SENDER = resolve(import.meta.dirname, "../helpers/sender.ts");

interface Outcome {
  ok: boolean;
  text: string;
  seq?: number;
  error?: string;
}

const outcomes = (p: GmProcess): Outcome[] =>
  p.stdout
    .split("\n")
    .filter((l) => l.startsWith('{"ok"'))
    .map((l) => JSON.parse(l) as Outcome);

/** Polls `check` until it returns true (bounded); returns how long it took. */
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - start;
}

describe("failures", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home };
  const dataDir = join(home, "data");
  let directory: { proc: GmProcess; endpoint: string };
  let group: { proc: GmProcess; endpoint: string };
  const extra: GmProcess[] = [];
  const user = (...args: string[]) => gm(["user", ...args, "--server", directory.endpoint], { env });
  const listed = async () => {
    const r = await user("list-groups", "--json");
    return r.exitCode === 0 ? (JSON.parse(r.stdout) as Array<{ name: string }>).map((g) => g.name) : [];
  };
  const senders = (count: number, n: number, tag: string) =>
    Array.from({ length: count }, (_, i) => {
      const p = new GmProcess([directory.endpoint, `${tag}${i}`, "general", String(n)], env, { script: SENDER });
      extra.push(p);
      return p;
    });

  before(async () => {
    directory = await startDirectory(env);
    group = await startGroup(["general"], { env, server: directory.endpoint, dataDir });
  });

  after(async () => {
    await Promise.all([...extra.map((p) => p.stop("SIGKILL")), group?.proc.stop(), directory?.proc.stop()]);
    cleanup();
  });

  it("a group server killed during a stream of sends loses nothing acknowledged and stores nothing twice", {
    timeout: 90_000,
  }, async (t) => {
    const streams = senders(3, 150, "kill");
    await Promise.all(streams.map((s) => s.waitFor(/"ok":true/)));
    // Kill the server while every client has acknowledged sends behind it and more in flight.
    await Promise.all(streams.map((s) => until(async () => outcomes(s).length >= 40, "40 acks each")));
    await group.proc.stop("SIGKILL");
    group = await startGroup(["general"], { env, server: directory.endpoint, dataDir, address: group.endpoint });
    await Promise.all(streams.map((s) => s.exited));

    const all = streams.flatMap(outcomes);
    assert.equal(all.length, 450, "every send has an outcome");
    const failed = all.filter((o) => !o.ok);
    for (const f of failed) assert.match(f.error ?? "", /no reply from tcp:\/\/127\.0\.0\.1:\d+ after 3 tries/);
    t.diagnostic(`${all.length - failed.length} acknowledged, ${failed.length} failed with a timeout`);

    const r = await gm(
      ["user", "messages", "general", "--json", "--profile", "kill0", "--server", directory.endpoint],
      { env },
    );
    assert.equal(r.exitCode, 0, r.stderr);
    const stored = JSON.parse(r.stdout) as Array<{ seq: number; text: string }>;
    const texts = stored.map((m) => m.text);
    assert.equal(new Set(texts).size, texts.length, "no message is stored twice");
    assert.deepEqual(
      stored.map((m) => m.seq),
      stored.map((_, i) => i + 1),
      "sequence numbers have no holes",
    );
    const byText = new Map(stored.map((m) => [m.text, m.seq]));
    for (const o of all.filter((x) => x.ok))
      assert.equal(byText.get(o.text), o.seq, `acknowledged ${o.text} is stored as #${o.seq}`);
  });

  it("SIGTERM answers what is in flight, flushes and exits 0", { timeout: 60_000 }, async () => {
    const streams = senders(2, 1000, "term");
    await Promise.all(streams.map((s) => until(async () => outcomes(s).length >= 20, "20 acks each")));
    const stopping = Date.now();
    assert.equal(await group.proc.stop("SIGTERM"), 0);
    const took = Date.now() - stopping;
    assert.ok(took < 3000, `shutdown took ${took} ms`);
    group = await startGroup(["general"], { env, server: directory.endpoint, dataDir, address: group.endpoint });
    await Promise.all(streams.map((s) => s.stop("SIGKILL")));
    const acked = streams.flatMap(outcomes).filter((o) => o.ok);
    const r = await gm(
      ["user", "messages", "general", "--json", "--profile", "term0", "--server", directory.endpoint],
      { env },
    );
    const stored = new Map((JSON.parse(r.stdout) as Array<{ seq: number; text: string }>).map((m) => [m.text, m.seq]));
    for (const o of acked) assert.equal(stored.get(o.text), o.seq);
  });

  it("a restarted message server is repopulated by the group servers' heartbeats", async (t) => {
    await directory.proc.stop("SIGKILL");
    const port = directory.endpoint.split(":").at(-1) as string;
    directory.proc = new GmProcess(["server", "--bind", `127.0.0.1:${port}`], env);
    await directory.proc.waitFor(/listening on/);
    const took = await until(async () => (await listed()).includes("general"), "general is listed again");
    t.diagnostic(`the new directory listed the group ${took} ms after it started`);
    const sent = await gm(
      ["user", "send", "general", "still works", "--profile", "kill0", "--server", directory.endpoint],
      { env },
    );
    assert.equal(sent.exitCode, 0, sent.stderr);
  });

  it("a group server that dies is dropped from the list after a few missed heartbeats", async (t) => {
    const { proc } = await startGroup(["ephemeral"], { env, server: directory.endpoint, dataDir });
    extra.push(proc);
    assert.ok((await listed()).includes("ephemeral"));
    await proc.stop("SIGKILL");
    const killed = Date.now();
    // The directory notices by itself (nobody lists meanwhile) and says so in its log.
    await directory.proc.waitFor(/DROPPED GROUP "ephemeral" at tcp:\/\/127\.0\.0\.1:\d+: no refresh for \d+ ms/);
    t.diagnostic(`dropped ${Date.now() - killed} ms after SIGKILL`);
    assert.ok(!(await listed()).includes("ephemeral"), "and no longer lists it");
    const { proc: again } = await startGroup(["ephemeral2"], { env, server: directory.endpoint, dataDir });
    extra.push(again);
    await again.stop("SIGTERM");
    // Well inside the 5 s a dead group takes to expire: the clean shutdown said goodbye.
    await until(async () => !(await listed()).includes("ephemeral2"), "a clean shutdown unregisters", 1500);
  });

  it("the shell stays usable while the message server is down, and works again when it is back", {
    timeout: 60_000,
  }, async () => {
    // Tries of 0.5 s instead of 2.5 s: the test waits for the dead directory to be reported.
    const shell = new GmProcess(["user", "shell", "--profile", "shelly", "--server", directory.endpoint], {
      ...env,
      GM_REQUEST_TIMEOUT_MS: "500",
    });
    extra.push(shell);
    shell.write("list_groups");
    await shell.waitFor(/general\s+\d+\s+tcp:/);
    await directory.proc.stop("SIGKILL");
    shell.write("list_groups");
    await shell.waitFor(/error: no reply from tcp:\/\/127\.0\.0\.1:\d+ after 3 tries/);
    const port = directory.endpoint.split(":").at(-1) as string;
    directory.proc = new GmProcess(["server", "--bind", `127.0.0.1:${port}`], env);
    await directory.proc.waitFor(/listening on/);
    await until(async () => (await listed()).includes("general"), "general is listed again");
    const before = shell.stdout.length;
    shell.write("join_group general");
    await shell.waitFor(/Joined general/);
    assert.ok(shell.stdout.length > before);
    shell.write("exit");
    assert.equal(await shell.exited, 1, "a scripted shell reports that a line failed");
  });
});
