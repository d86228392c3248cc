/**
 * gm on several machines: the directory, a group server and the users each get their own host (a
 * network namespace joined to a private bridge), so addresses, wildcard binds and link failures are
 * real. Then the group host's link goes down for about 5 s in the middle of a stream of sends.
 *
 * Needs root and iproute2 (CI runs as root); anywhere else it is skipped with the reason printed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { GmProcess, tempHome } from "../helpers/gm.js";
import { gmOn, type Host, killCommands, NetnsUnavailable, TestNetwork } from "../helpers/netns.js";

const SENDER = join(import.meta.dirname, "../helpers/sender.ts");
const PER_SENDER = 200;
/** Acknowledgements (over both senders) seen before the link is cut. */
const CUT_AFTER_ACKS = 60;
/** The deliberate fault: how long the group host stays off the network (GM_NETNS_OUTAGE_MS to vary it). */
const OUTAGE_MS = Number(process.env.GM_NETNS_OUTAGE_MS ?? 5000);
/** Where the link is cut: the group host's interface, or (GM_NETNS_CUT=switch) its switch port. */
const CUT: "host" | "switch" = process.env.GM_NETNS_CUT === "switch" ? "switch" : "host";

interface Outcome {
  ok: boolean;
  text: string;
  seq?: number;
  error?: string;
}

interface Message {
  seq: number;
  text: string;
}

/** Complete JSON lines printed so far (a line still being written is left out). */
function jsonLines<T>(stdout: string): T[] {
  return stdout
    .split("\n")
    .slice(0, -1)
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as T);
}

const outcomes = (p: GmProcess): Outcome[] => jsonLines<Outcome>(p.stdout).filter((o) => "ok" in o);

/** Polls `condition` until it holds; fails naming `what` after `timeoutMs`. */
async function until(what: string, timeoutMs: number, condition: () => boolean, detail = () => ""): Promise<number> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${detail()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - start;
}

/** Resolves with the exit code, or fails if the process is still running after `timeoutMs`. */
async function exitWithin(p: GmProcess, timeoutMs: number, what: string): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} still running after ${timeoutMs} ms\n${p.stdout.slice(-2000)}\n${p.stderr}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([p.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// Under 2 minutes in all: `npm test`'s --test-timeout also bounds each test file as a whole.
describe("gm across hosts (network namespaces)", { timeout: 110_000 }, () => {
  const tag = `gmt-${process.pid}`;
  const homes = { dir: tempHome(), grp: tempHome(), usr: tempHome() };
  const procs: GmProcess[] = [];
  let net: TestNetwork<"dir" | "grp" | "usr"> | undefined;
  let skipped: string | undefined;
  let dir: Host;
  let grp: Host;
  let usr: Host;
  let directory: string;
  let general: string;
  let follower: GmProcess | undefined;

  /** The directory's public key, from its ready line: every other host is given it, as an operator would. */
  let directoryKey = "";
  const start = (host: Host, args: string[], env: NodeJS.ProcessEnv, script?: string): GmProcess => {
    const withKey = directoryKey === "" ? env : { ...env, GM_SERVER_KEY: directoryKey };
    const p = new GmProcess(args, withKey, { prefix: host.exec, ...(script !== undefined && { script }) });
    procs.push(p);
    return p;
  };
  const user = (profile: string, ...args: string[]) =>
    gmOn(usr, ["user", ...args, "--profile", profile, "--server", directory], {
      GM_HOME: homes.usr.home,
      GM_SERVER_KEY: directoryKey,
    });
  const userJson = async <T>(profile: string, ...args: string[]): Promise<T> => {
    const r = await user(profile, ...args, "--json");
    assert.equal(r.exitCode, 0, `gm user ${args.join(" ")}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  const network = () => {
    assert.ok(net, "the test network exists");
    return net;
  };
  /** False (and the test skipped, with the reason printed) when there is no network to test on. */
  const ready = (t: TestContext): boolean => {
    if (skipped === undefined) return true;
    t.skip(skipped);
    return false;
  };
  /**
   * Last resort when the process ends without running `after` (the runner's per-file timeout sends
   * SIGTERM; Ctrl-C sends SIGINT): nothing may outlive the test, least of all a namespace.
   */
  const onExit = () => {
    killCommands();
    for (const p of procs) if (p.running) process.kill(p.pid, "SIGKILL");
    net?.destroySync();
    for (const h of Object.values(homes)) h.cleanup();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    unhook();
    onExit();
    process.kill(process.pid, signal);
  };
  const unhook = () => {
    process.off("exit", onExit);
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  };

  before(async () => {
    try {
      net = await TestNetwork.create(tag, ["dir", "grp", "usr"] as const);
    } catch (err) {
      if (!(err instanceof NetnsUnavailable)) throw err;
      skipped = `network namespaces unavailable: ${err.message}`;
      console.log(`gm across hosts: skipped, ${skipped}`);
      return;
    }
    process.once("exit", onExit);
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
    ({ dir, grp, usr } = net.hosts);
    const server = start(dir, ["server", "--bind", `tcp://${dir.address}:5555`], { GM_HOME: homes.dir.home });
    const ready = await server.waitFor(/listening on (tcp:\/\/\S+) .*public key (\S{40})/);
    directory = ready[1] as string;
    directoryKey = ready[2] as string;
    assert.equal(directory, `tcp://${dir.address}:5555`);
  });

  after(async () => {
    killCommands();
    await Promise.all(procs.map((p) => p.stop("SIGTERM", 3000)));
    try {
      await net?.destroy();
    } finally {
      unhook();
      for (const h of Object.values(homes)) h.cleanup();
    }
  });

  it("a group bound to tcp://* registers its host's address, which the users' host can reach", async (t) => {
    if (!ready(t)) return;
    const group = start(grp, ["group", "--name", "general", "--address", "tcp://*:6001", "--server", directory], {
      GM_HOME: homes.grp.home,
    });
    await group.waitFor(/serving general on tcp:\/\/\S+/);
    general = `tcp://${grp.address}:6001`;
    assert.match(group.stdout, /registration\s+registered/);
    assert.match(group.stdout, new RegExp(`address\\s+${general.replaceAll(".", "\\.")}\\n`));
    const groups = await userJson<Array<{ name: string; address: string }>>("alice", "list-groups");
    assert.deepEqual(
      groups.map((g) => [g.name, g.address]),
      [["general", general]],
    );
  });

  it("--advertise registers the given address instead", async (t) => {
    if (!ready(t)) return;
    const extra = await network().addAddress("grp", 12);
    const advertised = `tcp://${extra}:6002`;
    const random = start(
      grp,
      ["group", "--name", "random", "--address", "tcp://*:6002", "--advertise", advertised, "--server", directory],
      { GM_HOME: homes.grp.home },
    );
    await random.waitFor(/serving random on /);
    assert.match(random.stdout, new RegExp(`address\\s+${advertised.replaceAll(".", "\\.")}\\n`));
    const groups = await userJson<Array<{ name: string; address: string }>>("alice", "list-groups");
    assert.deepEqual(
      groups.map((g) => [g.name, g.address]),
      [
        ["general", general],
        ["random", advertised],
      ],
    );
    const joined = await userJson<{ address: string }>("alice", "join", "random");
    assert.equal(joined.address, advertised);
    const sent = await userJson<{ seq: number }>("alice", "send", "random", "via the advertised address");
    assert.equal(sent.seq, 1);
    assert.equal(await random.stop(), 0);
  });

  it("users on a third host list, join, send and follow", async (t) => {
    if (!ready(t)) return;
    for (const p of ["alice", "bob"]) {
      const j = await userJson<{ address: string }>(p, "join", "general");
      assert.equal(j.address, general);
    }
    const sent = await userJson<{ seq: number }>("alice", "send", "general", "hello from the users' host");
    assert.equal(sent.seq, 1);
    const history = await userJson<Message[]>("bob", "messages", "general");
    assert.deepEqual(
      history.map((m) => [m.seq, m.text]),
      [[1, "hello from the users' host"]],
    );

    const follow = ["user", "messages", "general", "--follow", "--json", "--profile", "bob", "--server", directory];
    follower = start(usr, follow, { GM_HOME: homes.usr.home });
    await follower.waitFor(/"text":"hello from the users' host"/);
    const live = await userJson<{ seq: number }>("alice", "send", "general", "live to bob");
    assert.equal(live.seq, 2);
    await follower.waitFor(/"text":"live to bob"/);
  });

  it("a 5 s link outage of the group host loses nothing acknowledged and duplicates nothing", {
    timeout: 90_000,
  }, async (t) => {
    if (!ready(t)) return;
    const bob = follower;
    assert.ok(bob?.running, "the follower from the previous test is running");
    const followed = () => jsonLines<Message>(bob.stdout);
    const env = { GM_HOME: homes.usr.home };
    const senders = ["alice", "bob"].map((profile) =>
      start(usr, [directory, profile, "general", String(PER_SENDER), profile[0] as string], env, SENDER),
    );
    await Promise.all(senders.map((s) => s.waitFor(/"ready":true/, 20_000)));
    const acks = () => senders.flatMap(outcomes).filter((o) => o.ok).length;

    await until(`${CUT_AFTER_ACKS} acknowledgements`, 30_000, () => acks() >= CUT_AFTER_ACKS);
    await network().link("grp", "down", CUT);
    const down = Date.now();
    const acksAtDown = acks();
    // A one-shot command that starts while the group host is off the network.
    const waiting = user("alice", "send", "general", "sent during the outage", "--json");
    let acksAtUp: number;
    let followedAtUp: number;
    try {
      await sleep(OUTAGE_MS, undefined, { signal: t.signal });
      acksAtUp = acks();
      followedAtUp = followed().length;
    } finally {
      await network().link("grp", "up", CUT);
    }
    const up = Date.now();
    t.diagnostic(`link down (${CUT} side) for ${up - down} ms, after ${acksAtDown} acks`);
    // Each sender has at most one request in flight, whose reply may have been on its way.
    assert.ok(acksAtUp - acksAtDown <= senders.length, `${acksAtUp - acksAtDown} acks arrived while the link was down`);

    const [firstAck, followerBack] = await Promise.all([
      until("an acknowledgement after the link came back", 60_000, () => acks() > acksAtUp),
      until("the follower to print a message after the link came back", 60_000, () => followed().length > followedAtUp),
    ]);
    t.diagnostic(
      `after the link came back: first ack in ${firstAck} ms, follower's first message in ${followerBack} ms`,
    );
    for (const [i, s] of senders.entries()) assert.equal(await exitWithin(s, 90_000, `sender ${i}`), 0, s.stderr);
    const oneShot = await waiting;

    const history = await userJson<Message[]>("alice", "messages", "general");
    const texts = new Map<string, number>();
    for (const m of history) texts.set(m.text, (texts.get(m.text) ?? 0) + 1);
    const all = senders.flatMap(outcomes);
    const ok = all.filter((o) => o.ok);
    const failed = all.filter((o) => !o.ok);
    const storedAnyway = failed.filter((o) => texts.has(o.text)).length;
    t.diagnostic(
      `sends: ${ok.length} acknowledged, ${failed.length} failed (${storedAnyway} of those stored anyway); ` +
        `one-shot send started during the outage: exit ${oneShot.exitCode} after ${oneShot.ms} ms`,
    );

    assert.deepEqual(
      history.map((m) => m.seq),
      history.map((_, i) => i + 1),
      "sequence numbers run 1..n without gaps or repeats",
    );
    assert.deepEqual(
      [...texts].filter(([, n]) => n > 1),
      [],
      "no message is stored twice",
    );
    assert.equal(all.length, senders.length * PER_SENDER, "every send reported an outcome");
    const bySeq = new Map(history.map((m) => [m.seq, m.text]));
    for (const o of ok) {
      assert.equal(bySeq.get(o.seq as number), o.text, `acknowledged ${o.text} is stored as #${o.seq}`);
    }
    const noReply = new RegExp(`no reply from ${general.replaceAll(".", "\\.")} after \\d+ tries`);
    for (const o of failed) assert.match(o.error ?? "", noReply, `${o.text} failed with a clear error`);
    if (oneShot.exitCode === 0) {
      assert.equal(texts.get("sent during the outage"), 1);
    } else {
      assert.equal(oneShot.exitCode, 3, oneShot.stderr);
      assert.match(oneShot.stderr, noReply);
    }

    await until(
      `the follower to print all ${history.length} messages`,
      30_000,
      () => followed().length >= history.length,
      () => bob.stderr,
    );
    t.diagnostic(`the follower had all ${history.length} messages ${Date.now() - up} ms after the link came back`);
    const said = bob.stderr.trim();
    if (said !== "") t.diagnostic(`the follower said: ${said.replaceAll("\n", " | ")}`);
    assert.deepEqual(
      followed().map((m) => [m.seq, m.text]),
      history.map((m) => [m.seq, m.text]),
      "the follower printed every message once, in order",
    );

    // The group host is registered again, at the same address (the directory may have dropped it).
    let listed: Array<{ name: string; address: string }> = [];
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(200)) {
      listed = await userJson("alice", "list-groups");
      if (listed.length > 0) break;
    }
    assert.deepEqual(
      listed.map((g) => [g.name, g.address]),
      [["general", general]],
    );
  });
});
