/**
 * Attacks on gm's security with the real processes (`bin/run.js`): an eavesdropper on the wire,
 * secure and insecure peers meeting, a stolen profile without its key, a fake group server taking
 * a name across directory restarts, and a store and profile made before gm had keys.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { RpcClient } from "../../src/net/rpc-client.js";
import { fingerprintOf, newKeyPair, userIdOf } from "../../src/protocol/keys.js";
import { type GmProcess, gm, GmProcess as Proc, startDirectory, startGroup, tempHome } from "../helpers/gm.js";
import { Relay } from "../helpers/relay.js";

/** A loopback port that nothing listens on (bound and released by the OS). */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

const portOf = (endpoint: string) => Number(endpoint.split(":").at(-1));

describe("an eavesdropper between the clients and the servers", () => {
  /**
   * A whole conversation through two relays (one in front of the directory, one in front of the
   * group server, which advertises the relay's address): join with a display name, send texts,
   * read the history. Returns what the relays recorded and the secrets to look for.
   */
  async function conversation(insecure: boolean) {
    const { home, cleanup } = tempHome();
    const flag = insecure ? ["--insecure"] : [];
    const env = { GM_HOME: home };
    const relays: Relay[] = [];
    const procs: GmProcess[] = [];
    try {
      const directory = await startDirectory(env, flag);
      procs.push(directory.proc);
      const toDirectory = await Relay.start(portOf(directory.endpoint));
      const toGroup = await Relay.start();
      relays.push(toDirectory, toGroup);
      // Clients reach the directory through a relay, so its key is given, not found locally.
      const keyed = insecure ? env : { ...env, GM_SERVER_KEY: directory.key };
      const group = await startGroup(["zanzibar"], {
        env: keyed,
        server: toDirectory.endpoint,
        dataDir: join(home, "data"),
        extra: [...flag, "--advertise", toGroup.endpoint],
      });
      procs.push(group.proc);
      toGroup.target = portOf(group.endpoint);
      const user = (...args: string[]) =>
        gm(["user", ...args, "--server", toDirectory.endpoint, ...flag], { env: keyed });
      const texts = [`quixotic-${randomUUID()}`, `zephyr-${randomUUID()}`];
      const name = "Euphrosyne Quackenbush";
      const joined = await user("join", "zanzibar", "--display-name", name);
      assert.equal(joined.exitCode, 0, joined.stderr);
      for (const text of texts) assert.equal((await user("send", "zanzibar", text)).exitCode, 0);
      const read = await user("messages", "zanzibar", "--json");
      assert.equal(read.exitCode, 0, read.stderr);
      const messages = JSON.parse(read.stdout) as Array<{ text: string; user: string; name: string }>;
      assert.deepEqual(
        messages.map((m) => [m.text, m.name]),
        texts.map((t) => [t, name]),
      );
      const listed = JSON.parse((await user("list-groups", "--json")).stdout) as Array<{ id: string }>;
      const me = JSON.parse((await user("whoami", "--json")).stdout) as { uuid: string };
      for (const r of relays) {
        const { up, down } = r.counts();
        assert.ok(up > 0 && down > 0, "the conversation went through both relays");
      }
      return {
        secrets: [...texts, name, me.uuid, listed[0]?.id as string, "zanzibar"],
        directorySaw: toDirectory.found.bind(toDirectory),
        groupSaw: toGroup.found.bind(toGroup),
      };
    } finally {
      await Promise.all(relays.map((r) => r.close()));
      await Promise.all(procs.map((p) => p.stop()));
      cleanup();
    }
  }

  it("over CURVE records no text, display name, user or group id, nor the group's name", async () => {
    const { secrets, directorySaw, groupSaw } = await conversation(false);
    assert.deepEqual(directorySaw(secrets), [], "between the clients and the directory");
    assert.deepEqual(groupSaw(secrets), [], "between the clients and the group server");
  });

  it("with --insecure on both sides records them in plain text (so the relay does record)", async () => {
    const { secrets, directorySaw, groupSaw } = await conversation(true);
    const [text1, text2, name, uuid, groupId] = secrets;
    assert.deepEqual(groupSaw([text1, text2, name, uuid] as string[]), [text1, text2, name, uuid]);
    assert.deepEqual(directorySaw([groupId, "zanzibar"] as string[]), [groupId, "zanzibar"]);
  });
});

describe("secure and insecure peers", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home };
  let secure: { proc: GmProcess; endpoint: string; key: string };
  let insecure: { proc: GmProcess; endpoint: string };

  before(async () => {
    secure = await startDirectory(env, ["--data-dir", join(home, "secure")]);
    insecure = await startDirectory(env, ["--insecure", "--data-dir", join(home, "insecure")]);
  });
  after(async () => {
    await Promise.all([secure?.proc.stop(), insecure?.proc.stop()]);
    cleanup();
  });

  /** Runs a command and how long it took. */
  const timed = async (args: string[]) => {
    const t0 = Date.now();
    const r = await gm(args, { env });
    return { ...r, ms: Date.now() - t0 };
  };

  it("an --insecure client and a CURVE server refuse each other at once, saying who uses CURVE", async () => {
    const r = await timed(["user", "list-groups", "--insecure", "--server", secure.endpoint]);
    assert.equal(r.exitCode, 1, r.stderr);
    assert.ok(r.ms < 4000, `took ${r.ms} ms`);
    // Whichever side notices first hangs up, so the client sees a mismatch or a hang-up.
    assert.match(
      r.stderr,
      new RegExp(
        `${secure.endpoint} (uses|hung up during the handshake: it most likely uses) CURVE encryption and this client runs with --insecure: drop --insecure`,
      ),
    );
    // The server logs it too, as a mismatch or a hang-up, whichever it saw first (and a second
    // refusal within a second goes into the next summary line).
    await secure.proc.waitFor(/refused (a connection|\d+ more connections)/, 3000);
  });

  it("a CURVE client and an --insecure server refuse each other at once, saying who does not", async () => {
    const r = await timed(["user", "list-groups", "--server", insecure.endpoint, "--server-key", secure.key]);
    assert.equal(r.exitCode, 1, r.stderr);
    assert.ok(r.ms < 4000, `took ${r.ms} ms`);
    assert.match(
      r.stderr,
      new RegExp(
        `${insecure.endpoint} (does not|.*or it does not) use CURVE encryption( at all)? \\(it runs with --insecure\\?\\)`,
      ),
    );
    // Without a key to expect, the client does not even try, and says how to go on.
    const none = await timed(["user", "list-groups", "--server", insecure.endpoint, "--profile", "other"]);
    assert.equal(none.exitCode, 2, none.stderr);
    assert.match(none.stderr, /no public key known for the message server .* or use --insecure/);
  });

  it("a wrong --server-key: the key is named and the client stops at once", async () => {
    const wrong = newKeyPair().publicKey;
    const r = await timed([
      "user",
      "list-groups",
      "--server",
      secure.endpoint,
      "--server-key",
      wrong,
      "--profile",
      "w",
    ]);
    assert.equal(r.exitCode, 1, r.stderr);
    assert.ok(r.ms < 4000, `took ${r.ms} ms`);
    assert.match(
      r.stderr,
      new RegExp(`does not hold the public key this client expects of it \\(${fingerprintOf(userIdOf(wrong))}\\)`),
    );
    // (The server logs this refusal in its once-a-minute summary: the earlier test's refusal opened
    // the window. The first refusal of a window is logged at once: see the flood test.)
    const bad = await timed([
      "user",
      "list-groups",
      "--server",
      secure.endpoint,
      "--server-key",
      "abc",
      "--profile",
      "w",
    ]);
    assert.equal(bad.exitCode, 2);
    assert.match(bad.stderr, /--server-key must be a CURVE public key: 40 characters of Z85 or 64 hex digits/);
  });
});

describe("a profile copied without its key", () => {
  const victim = tempHome();
  const thief = tempHome();
  let directory: { proc: GmProcess; endpoint: string; key: string };
  let group: { proc: GmProcess; endpoint: string };
  const as = (home: string, ...args: string[]) =>
    gm(["user", ...args, "--server", directory.endpoint], { env: { GM_HOME: home, GM_SERVER_KEY: directory.key } });

  before(async () => {
    directory = await startDirectory({ GM_HOME: victim.home });
    group = await startGroup(["general"], {
      env: { GM_HOME: victim.home },
      server: directory.endpoint,
      dataDir: join(victim.home, "data"),
    });
  });
  after(async () => {
    await Promise.all([group?.proc.stop(), directory?.proc.stop()]);
    victim.cleanup();
    thief.cleanup();
  });

  it("is another user: it can neither send nor read as the victim, nor take the victim's membership", async () => {
    assert.equal((await as(victim.home, "join", "general", "--display-name", "Vic")).exitCode, 0);
    assert.equal((await as(victim.home, "send", "general", "victim's own words")).exitCode, 0);
    const victimId = JSON.parse((await as(victim.home, "whoami", "--json")).stdout).uuid as string;
    mkdirSync(join(thief.home, "profiles"), { recursive: true });
    const stolen = join(thief.home, "profiles", "default.json");
    copyFileSync(join(victim.home, "profiles", "default.json"), stolen);
    // Without the key the copy is nobody: the client refuses to act at all.
    const bare = await as(thief.home, "send", "general", "forged words");
    assert.equal(bare.exitCode, 1);
    assert.match(
      bare.stderr,
      /the key file .*default\.key is missing: this profile is user .* and that key is its identity/,
    );
    // With a key of its own beside the copy, the client refuses too: it is another user's profile.
    rmSync(stolen);
    const own = JSON.parse((await as(thief.home, "whoami", "--json")).stdout) as { uuid: string };
    const victimProfile = JSON.parse(readFileSync(join(victim.home, "profiles", "default.json"), "utf8"));
    writeFileSync(stolen, JSON.stringify({ ...victimProfile, uuid: victimId }));
    const mixed = await as(thief.home, "send", "general", "forged words");
    assert.equal(mixed.exitCode, 1);
    assert.match(mixed.stderr, /holds another key/);
    // A hand-made profile that keeps the thief's key, the victim's groups, and the victim's id to
    // "claim": the server is never fooled, whatever the client files say.
    writeFileSync(stolen, JSON.stringify({ ...victimProfile, uuid: own.uuid, legacyUuid: victimId }));

    const send = await as(thief.home, "send", "general", "forged words");
    assert.equal(send.exitCode, 1, send.stderr);
    assert.match(send.stderr, /not a member of "general".*\(NOT_MEMBER\)/);
    const read = await as(thief.home, "messages", "general");
    assert.equal(read.exitCode, 1);
    assert.match(read.stderr, /\(NOT_MEMBER\)/);
    assert.doesNotMatch(read.stdout, /victim's own words/);
    const thiefId = JSON.parse((await as(thief.home, "whoami", "--json")).stdout).uuid as string;
    assert.notEqual(thiefId, victimId, "a new key, a new user");
    // Joining (which claims the copied id) makes it a member as itself only.
    assert.equal((await as(thief.home, "join", "general")).exitCode, 0);
    assert.equal((await as(thief.home, "send", "general", "thief's words")).exitCode, 0);
    const all = JSON.parse((await as(victim.home, "messages", "general", "--json")).stdout) as Array<{
      user: string;
      text: string;
    }>;
    assert.deepEqual(
      all.map((m) => [m.user, m.text]),
      [
        [victimId, "victim's own words"],
        [thiefId, "thief's words"],
      ],
    );
    assert.equal((await as(victim.home, "send", "general", "still mine")).exitCode, 0, "the victim is still a member");
  });
});

describe("group names belong to keys, across directory restarts", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home };
  const dataDir = join(home, "directory");
  let port: number;
  let directory: { proc: GmProcess; endpoint: string; key: string } | undefined;
  const running: GmProcess[] = [];
  const restart = async (extra: string[] = []) => {
    await directory?.proc.stop();
    directory = await startDirectory(env, ["--data-dir", dataDir, ...extra], `127.0.0.1:${port}`);
    return directory;
  };
  const real = () => startGroup(["general"], { env, server: `tcp://127.0.0.1:${port}`, dataDir: join(home, "real") });
  /** The fake group server: its own data dir, so its own key. Resolves with its exit code and stderr. */
  const fake = async () => {
    const args = ["group", "--name", "general", "--address", "127.0.0.1:0", "--server", `tcp://127.0.0.1:${port}`];
    const p = new Proc([...args, "--data-dir", join(home, "fake")], env);
    running.push(p);
    try {
      return { key: (await p.waitFor(/serving general on .* public key (\S{40})/))[1] as string };
    } catch {
      return { code: await p.exited, stderr: p.stderr };
    }
  };
  const list = async (key: string) => {
    const c = new RpcClient(`tcp://127.0.0.1:${port}`, {
      timeoutMs: 3000,
      tries: 1,
      security: { keys: newKeyPair(), serverKey: key },
    });
    try {
      return (await c.request<{ groups: Array<{ name: string; key: string }> }>("LIST", {})).groups;
    } finally {
      await c.close();
    }
  };

  before(async () => {
    port = await freePort();
  });
  after(async () => {
    await Promise.all(running.map((p) => p.stop()));
    await directory?.proc.stop();
    cleanup();
  });

  it("hold while the real server is down and the directory restarts; --release and --allow-key", async () => {
    const d = await restart();
    const first = await real();
    running.push(first.proc);
    assert.deepEqual(
      (await list(d.key)).map((g) => [g.name, g.key]),
      [["general", first.key]],
    );
    // The real group server goes away, then the directory restarts on the same data dir.
    await first.proc.stop();
    const d2 = await restart();
    assert.equal(d2.key, d.key, "the same data dir, the same directory key");
    const taken = await fake();
    assert.ok("code" in taken, "the fake group server does not get to serve");
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /the group name "general" belongs to another group server's key.*\(FORBIDDEN\)/);
    assert.deepEqual(await list(d2.key), [], "nothing listed in the real one's absence");
    assert.match(d2.proc.stdout, /REFUSED REGISTER of "general" by key [0-9a-f]{8}: bound to/);

    // The operator releases the name: the next key to register takes it, and keeps it.
    const d3 = await restart(["--release=general"]);
    assert.match(d3.proc.stdout, /released the group name "general"/);
    const fakeServing = await fake();
    assert.ok("key" in fakeServing, "after --release the other key may take the name");
    assert.deepEqual(
      (await list(d3.key)).map((g) => [g.name, g.key]),
      [["general", fakeServing.key]],
    );
    await assert.rejects(real(), /belongs to another group server's key/, "now the first one is refused");

    // Only the real server's key allowed: the fake one is refused even after another release.
    await Promise.all(running.map((p) => p.stop()));
    await restart(["--release=general", `--allow-key=${first.key}`]);
    const refused = await fake();
    assert.ok("code" in refused, "the fake is refused");
    assert.match(refused.stderr ?? "", /this directory takes registrations only from its allowed group server keys/);
    const back = await real();
    running.push(back.proc);
    assert.deepEqual(
      (await list(d.key)).map((g) => [g.name, g.key]),
      [["general", first.key]],
    );
  });
});

describe("a store and a profile made before keys", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home };
  const dirData = join(home, "directory");
  const groupData = join(home, "group");
  const running: GmProcess[] = [];
  after(async () => {
    await Promise.all(running.map((p) => p.stop()));
    cleanup();
  });

  it("keep working on secure servers: the membership moves to the key, the old id is dead", async () => {
    const [dirPort, groupPort] = [await freePort(), await freePort()];
    const server = `tcp://127.0.0.1:${dirPort}`;
    const address = `127.0.0.1:${groupPort}`;
    const start = async (insecure: boolean) => {
      const flag = insecure ? ["--insecure"] : [];
      const d = await startDirectory(env, ["--data-dir", dirData, ...flag], `127.0.0.1:${dirPort}`);
      running.push(d.proc);
      const g = await startGroup(["general"], { env, server, address, dataDir: groupData, extra: flag });
      running.push(g.proc);
      return { d, g };
    };
    // Before: plain text, and users who are whatever uuid they say.
    const old = await start(true);
    const legacy = randomUUID();
    const other = randomUUID();
    const plain = new RpcClient(old.g.endpoint, { timeoutMs: 3000, tries: 1 });
    let groupId: string;
    try {
      groupId = (await plain.request<{ id: string }>("JOIN", { group: "general", user: legacy, name: "Oldtimer" })).id;
      await plain.request("JOIN", { group: "general", user: other, name: "Other" });
      for (const [user, text] of [
        [legacy, "old one"],
        [other, "old two"],
        [legacy, "old three"],
      ] as const) {
        await plain.request("SEND", { group: "general", user, id: randomUUID(), text });
      }
    } finally {
      await plain.close();
    }
    // A profile as gm wrote it then: a random uuid, no key file.
    mkdirSync(join(home, "profiles"), { recursive: true });
    const profileFile = join(home, "profiles", "old.json");
    writeFileSync(
      profileFile,
      JSON.stringify({
        uuid: legacy,
        name: "Oldtimer",
        server,
        groups: { general: { id: groupId, address: old.g.endpoint, joined: Date.now() } },
      }),
    );
    await Promise.all([old.g.proc.stop(), old.d.proc.stop()]);

    // After: the same data dirs and ports, with keys; the user changes nothing.
    const now = await start(false);
    const user = (...args: string[]) => gm(["user", ...args, "--profile", "old"], { env });
    const read = await user("messages", "general", "--json");
    assert.equal(read.exitCode, 0, read.stderr);
    assert.deepEqual(
      (JSON.parse(read.stdout) as Array<{ user: string; text: string }>).map((m) => [m.user, m.text]),
      [
        [legacy, "old one"],
        [other, "old two"],
        [legacy, "old three"],
      ],
    );
    const profile = JSON.parse(readFileSync(profileFile, "utf8"));
    assert.equal(profile.legacyUuid, legacy);
    assert.notEqual(profile.uuid, legacy);
    assert.equal(profile.uuid[14], "8", "the user is now their key's id");
    assert.equal(profile.groups.general.key, now.g.key, "the group server's key is remembered");
    await now.g.proc.waitFor(new RegExp(`CLAIM OF ${legacy} BY ${profile.uuid}`));
    assert.equal((await user("send", "general", "new one")).exitCode, 0);
    const after = JSON.parse((await user("messages", "general", "--json")).stdout) as Array<{ user: string }>;
    assert.deepEqual(
      after.map((m) => m.user),
      [legacy, other, legacy, profile.uuid],
    );

    // The old id is no member any more (two members: the other one and the key), and no key signs for it.
    const stranger = newKeyPair();
    const c = new RpcClient(now.g.endpoint, {
      timeoutMs: 3000,
      tries: 1,
      security: { keys: stranger, serverKey: now.g.key },
    });
    try {
      assert.equal((await c.request<{ members: number }>("INFO", { group: "general" })).members, 2);
      await assert.rejects(c.request("HISTORY", { group: "general", user: legacy }), { code: "FORBIDDEN" });
      await assert.rejects(c.request("SEND", { group: "general", user: legacy, id: randomUUID(), text: "x" }), {
        code: "FORBIDDEN",
      });
      // Claiming it again, with another key, moves nothing: it is no member to move.
      const me = userIdOf(stranger.publicKey);
      await c.request("JOIN", { group: "general", user: me, name: "Stranger", claim: legacy });
      await assert.rejects(c.request("LEAVE", { group: "general", user: profile.uuid }), { code: "FORBIDDEN" });
      assert.equal((await c.request<{ members: number }>("INFO", { group: "general" })).members, 3);
    } finally {
      await c.close();
    }
  });
});

describe("a group server's key rotated by its operator", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home };
  const groupData = join(home, "group");
  const running: GmProcess[] = [];
  after(async () => {
    await Promise.all(running.map((p) => p.stop()));
    cleanup();
  });

  it("users follow the new key through the directory, which the operator let take the name", async () => {
    const dirData = join(home, "directory");
    let directory = await startDirectory(env, ["--data-dir", dirData]);
    running.push(directory.proc);
    const port = portOf(directory.endpoint);
    const first = await startGroup(["general"], { env, server: directory.endpoint, dataDir: groupData });
    running.push(first.proc);
    const user = (...args: string[]) => gm(["user", ...args, "--server", directory.endpoint], { env });
    assert.equal((await user("join", "general")).exitCode, 0);
    assert.equal((await user("send", "general", "before the rotation")).exitCode, 0);

    // Rotation: a new group key (same store), and the directory releases the name for it.
    await first.proc.stop();
    rmSync(join(groupData, "group.key"));
    await directory.proc.stop();
    directory = await startDirectory(env, ["--data-dir", dirData, "--release=general"], `127.0.0.1:${port}`);
    running.push(directory.proc);
    const second = await startGroup(["general"], {
      env,
      server: directory.endpoint,
      dataDir: groupData,
      address: first.endpoint,
    });
    running.push(second.proc);
    assert.notEqual(second.key, first.key);

    // The profile still holds the old key: the handshake fails, the directory gives the new one.
    const sent = await user("send", "general", "after the rotation");
    assert.equal(sent.exitCode, 0, sent.stderr);
    const profile = JSON.parse(readFileSync(join(home, "profiles", "default.json"), "utf8"));
    assert.equal(profile.groups.general.key, second.key, "the profile now holds the new key");
    const read = await user("messages", "general");
    assert.match(read.stdout, /before the rotation\n.*after the rotation\n/);
  });
});

describe("a directory on another machine", () => {
  const server = tempHome();
  const user = tempHome(); // another GM_HOME: nothing of the server's is to be found there
  const running: GmProcess[] = [];
  after(async () => {
    await Promise.all(running.map((p) => p.stop()));
    server.cleanup();
    user.cleanup();
  });

  it("needs its key once: given by flag, pinned in the profile, used ever after", async () => {
    const directory = await startDirectory({ GM_HOME: server.home });
    running.push(directory.proc);
    const as = (...args: string[]) =>
      gm(["user", ...args, "--server", directory.endpoint], { env: { GM_HOME: user.home } });
    const unknown = await as("list-groups");
    assert.equal(unknown.exitCode, 2);
    assert.match(
      unknown.stderr,
      /no public key known for the message server at tcp:\/\/127\.0\.0\.1:\d+: give it once with --server-key/,
    );
    assert.equal((await as("list-groups", "--server-key", directory.key)).exitCode, 0);
    const profile = JSON.parse(readFileSync(join(user.home, "profiles", "default.json"), "utf8"));
    assert.equal(profile.serverKeys[directory.endpoint], directory.key, "pinned for that endpoint");
    assert.equal(statSync(join(user.home, "profiles", "default.key")).mode & 0o777, 0o600);
    const later = await as("list-groups");
    assert.equal(later.exitCode, 0, later.stderr);
    // The directory itself is remembered too: no --server, no GM_SERVER, and whoami shows both.
    const bare = await gm(["user", "list-groups"], { env: { GM_HOME: user.home } });
    assert.equal(bare.exitCode, 0, bare.stderr);
    const who = await gm(["user", "whoami"], { env: { GM_HOME: user.home } });
    assert.match(who.stdout, new RegExp(`server       ${directory.endpoint}  \\(the profile's\\)\n`));
    assert.ok(who.stdout.includes(`server key   ${directory.key}\n`), who.stdout);
    // A pinned key the directory does not hold (it was rotated, or it is another server): refused, with what to do.
    const other = newKeyPair().publicKey;
    const wrong = await as("list-groups", "--server-key", other);
    assert.equal(wrong.exitCode, 1);
    assert.match(wrong.stderr, /--server-key or GM_SERVER_KEY/);
    // A key the directory never answered to is not pinned: the right one stays.
    assert.equal((await as("list-groups")).exitCode, 0);
  });
});

describe("name bindings lapse (gm server --name-lapse-days)", () => {
  it("a binding older than the lapse is logged at start and kept an hour; 0 days is bad usage", async () => {
    const { home, cleanup } = tempHome();
    let directory: GmProcess | undefined;
    try {
      const dataDir = join(home, "directory");
      mkdirSync(dataDir, { recursive: true });
      const key = newKeyPair().publicKey;
      const twoDaysAgo = new Date(Date.now() - 2 * 24 * 60 * 60 * 1000).toISOString();
      const file = join(dataDir, "directory-names.json");
      writeFileSync(file, JSON.stringify({ names: { general: { key, registered: twoDaysAgo }, lobby: key } }));
      const started = await startDirectory({ GM_HOME: home }, ["--data-dir", dataDir, "--name-lapse-days", "1"]);
      directory = started.proc;
      await directory.waitFor(/1 name binding in .* not registered for over 1 day: kept 1 hour more/);
      // The older gm's binding (key alone) was given a time; both are still bound to their key.
      const names = (JSON.parse(readFileSync(file, "utf8")) as { names: Record<string, { key: string }> }).names;
      assert.deepEqual(
        Object.entries(names).map(([n, b]) => [n, b.key]),
        [
          ["general", key],
          ["lobby", key],
        ],
      );
      const bad = await gm(["server", "--data-dir", dataDir, "--name-lapse-days", "0"], { env: { GM_HOME: home } });
      assert.equal(bad.exitCode, 2);
      assert.match(bad.stderr, /name-lapse-days/);
    } finally {
      await directory?.stop();
      cleanup();
    }
  });
});
