/**
 * `gm status`: the operator's view, through the real binary, of a message server and two group
 * servers spawned here; then one group server stopped while it is still registered, then the
 * message server gone.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Registrar } from "../../src/group/registrar.js";
import { loadOrCreateKeyFile } from "../../src/util/keyfile.js";
import { silent } from "../../src/util/log.js";
import { type GmProcess, gm, startDirectory, startGroup, tempHome } from "../helpers/gm.js";

interface Status {
  directory: { endpoint: string; answered: boolean; rttMs?: number; groups?: number; code?: string };
  groups: Array<{
    name: string;
    id: string;
    address: string;
    answered: boolean;
    rttMs?: number;
    members?: number;
    messages?: number;
    lastTs?: number | null;
    events?: string;
    code?: string;
    error?: string;
  }>;
  ok: boolean;
}

describe("gm status", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home };
  let directory: { proc: GmProcess; endpoint: string; key: string };
  let general: { proc: GmProcess; endpoint: string };
  let random: { proc: GmProcess; endpoint: string };
  let registrar: Registrar | undefined;
  const status = (...args: string[]) => gm(["status", "--server", directory.endpoint, ...args], { env });

  before(async () => {
    directory = await startDirectory(env);
    const start = (name: string) =>
      startGroup([name], { env, server: directory.endpoint, dataDir: join(home, `data-${name}`) });
    general = await start("general");
    random = await start("random");
  });

  after(async () => {
    await registrar?.stop();
    random?.proc.child.kill("SIGCONT");
    await Promise.all([general?.proc.stop(), random?.proc.stop(), directory?.proc.stop()]);
    cleanup();
  });

  it("lists every group with its server, round trip, members, messages and last message; exit 0", async () => {
    const join = await gm(["user", "join", "general", "--server", directory.endpoint], { env });
    assert.equal(join.exitCode, 0, join.stderr);
    const sent = await gm(["user", "send", "general", "hi", "--json", "--server", directory.endpoint], { env });
    assert.equal(sent.exitCode, 0, sent.stderr);
    const { ts } = JSON.parse(sent.stdout) as { ts: number };

    const r = await status("--json");
    assert.equal(r.exitCode, 0, r.stderr);
    const s = JSON.parse(r.stdout) as Status;
    assert.equal(s.ok, true);
    assert.deepEqual([s.directory.endpoint, s.directory.answered, s.directory.groups], [directory.endpoint, true, 2]);
    assert.ok(typeof s.directory.rttMs === "number" && s.directory.rttMs >= 0);
    const [g, rnd] = s.groups;
    assert.deepEqual(
      [g?.name, g?.address, g?.answered, g?.members, g?.messages, g?.lastTs],
      ["general", general.endpoint, true, 1, 1, ts],
    );
    assert.deepEqual(
      [rnd?.name, rnd?.address, rnd?.answered, rnd?.members, rnd?.messages, rnd?.lastTs],
      ["random", random.endpoint, true, 0, 0, null],
    );
    for (const x of s.groups) {
      assert.ok(typeof x.rttMs === "number" && x.rttMs >= 0);
      assert.match(x.events ?? "", /^tcp:\/\/127\.0\.0\.1:\d+$/);
    }

    // Without NO_COLOR (which the tests' environment sets): colour is off because stdout is a pipe.
    const text = await gm(["status", "--server", directory.endpoint], { env: { ...env, NO_COLOR: undefined } });
    assert.equal(text.exitCode, 0, text.stderr);
    assert.equal(text.stderr, "");
    const lines = text.stdout.trimEnd().split("\n");
    assert.match(
      lines[0] ?? "",
      /^message server tcp:\/\/127\.0\.0\.1:\d+: answered in \d+\.\d ms, 2 groups registered$/,
    );
    assert.match(lines[1] ?? "", /^GROUP\s+SERVER\s+STATE\s+RTT\s+MEMBERS\s+MESSAGES\s+LAST MESSAGE\s+EVENTS$/);
    assert.match(lines[2] ?? "", /^general\s+tcp:\S+\s+ok\s+\d+\.\d ms\s+1\s+1\s+\d\d:\d\d:\d\d\s+tcp:\S+$/);
    assert.match(lines[3] ?? "", /^random\s+tcp:\S+\s+ok\s+\d+\.\d ms\s+0\s+0\s+-\s+tcp:\S+$/);
    assert.equal(lines.length, 4);
    assert.ok(!text.stdout.includes("\u001b["), "no colour when the output is not a terminal");
  });

  it("exits 1 naming a registered group whose server does not answer", async () => {
    const before = JSON.parse((await status("--json")).stdout) as Status;
    const id = before.groups.find((g) => g.name === "random")?.id as string;
    random.proc.child.kill("SIGSTOP");
    // A stopped server sends no more refreshes, and the directory would drop it within 5 s: keep
    // its registration alive with its own key, as a server whose link to users (not to the
    // directory) is gone would, so the check does not race the directory's timer.
    const keys = loadOrCreateKeyFile(join(home, "data-random", "group.key"), "the random group server");
    registrar = new Registrar(
      directory.endpoint,
      random.endpoint,
      [{ name: "random", id, members: () => 0 }],
      silent,
      500,
      {
        keys,
        serverKey: directory.key,
      },
    );
    await registrar.start();
    assert.equal(registrar.status.get("random")?.state, "registered");

    const r = await status("--timeout", "500");
    assert.equal(r.exitCode, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^general\s+tcp:\S+\s+ok\s/m);
    assert.match(r.stdout, /^random\s+tcp:\S+\s+NO ANSWER\s+-\s+-\s+-\s+-\s+-$/m);
    assert.match(r.stdout, /^random: no reply from tcp:\/\/127\.0\.0\.1:\d+ after 1 try \(0\.5 s\)/m);
    assert.equal(r.stderr.trim(), `Error: 1 of 2 registered groups did not answer: random (${random.endpoint})`);

    const j = await status("--timeout", "500", "--json");
    assert.equal(j.exitCode, 1);
    const s = JSON.parse(j.stdout) as Status;
    assert.equal(s.ok, false);
    assert.deepEqual(
      s.groups.map((g) => [g.name, g.answered, g.code ?? null]),
      [
        ["general", true, null],
        ["random", false, "TIMEOUT"],
      ],
    );
    assert.equal(j.stderr, "", "--json writes only the JSON object");
  });

  it("exits 3 when the message server does not answer", async () => {
    await directory.proc.stop();
    const r = await status("--timeout", "300", "--server-key", directory.key);
    assert.equal(r.exitCode, 3, r.stdout + r.stderr);
    assert.match(r.stderr, /^Error: no reply from tcp:\/\/127\.0\.0\.1:\d+ after 1 try \(0\.3 s\)/m);
    const j = await status("--timeout", "300", "--server-key", directory.key, "--json");
    assert.equal(j.exitCode, 3);
    const s = JSON.parse(j.stdout) as Status;
    assert.deepEqual([s.ok, s.directory.answered, s.directory.code, s.groups], [false, false, "TIMEOUT", []]);
  });
});
