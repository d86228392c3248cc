/**
 * Trial of issue 14's "members that never read": a member opens N DEALER connections to a group
 * server, each sending `HISTORY limit:1000` for the largest texts over and over with a receive
 * high-water mark of 1 and never reading. Reports the server's RSS (start, peak, at the end of the
 * attack, after the attackers close and again later), its smaps_rollup, and, with --memlog, the
 * server's own process.memoryUsage() (V8 heap, external) at the peak; and how another member fares
 * meanwhile (its HISTORY and SEND round trips, and whether it got through at all).
 *
 *   node --import tsx bench/experiments/hostile-readers.ts --connections 128 [--insecure]
 *     [--seconds 20] [--big 2000] [--env MALLOC_ARENA_MAX=2] [--memlog] [--store DIR]
 *
 * The store: `--big` messages of 16,383 x \u0001 (96 KiB as JSON each); a page of them holds one.
 * --store keeps it in DIR between runs (created the first time).
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import * as zmq from "zeromq";
import { encodeRequest } from "../../src/protocol/codec.js";
import { GroupCommand, Limits } from "../../src/protocol/constants.js";
import { clientProof } from "../../src/protocol/keys.js";
import { SqliteGroupStore } from "../../src/store/sqlite.js";
import { GmClient } from "../../src/user/client.js";
import { Profile } from "../../src/user/profile.js";
import { awaitReady, gmEnv, RunningProcess } from "../../support/gm-process.js";

const { values } = parseArgs({
  options: {
    connections: { type: "string", default: "128" },
    seconds: { type: "string", default: "20" },
    big: { type: "string", default: "2000" },
    insecure: { type: "boolean", default: false },
    env: { type: "string", multiple: true, default: [] },
    memlog: { type: "boolean", default: false },
    store: { type: "string" },
    after: { type: "string", default: "20" },
    "attacker-heartbeat": { type: "string", default: "0" },
    identities: { type: "string", default: "1" },
    prof: { type: "string" },
    attack: { type: "string" },
    nofile: { type: "string" },
  },
});
if (values.attack !== undefined) {
  const spec = JSON.parse(values.attack) as {
    endpoint: string;
    connections: number;
    heartbeat: number;
    identities: {
      security?: { keys: { publicKey: string; secretKey: string }; serverKey: string };
      body: Record<string, unknown>;
    }[];
    big: number;
  };
  let stop = false;
  let sent = 0;
  const sockets = Array.from({ length: spec.connections }, (_, c) => {
    const security = spec.identities[c % spec.identities.length]?.security;
    const s = new zmq.Dealer({
      linger: 0,
      receiveHighWaterMark: 1,
      ...(spec.heartbeat > 0 && { heartbeatInterval: spec.heartbeat }),
      ...(security && {
        curveServerKey: security.serverKey,
        curvePublicKey: security.keys.publicKey,
        curveSecretKey: security.keys.secretKey,
      }),
    });
    s.connect(spec.endpoint);
    return s;
  });
  process.on("SIGTERM", () => {
    stop = true;
    for (const s of sockets) s.close();
    console.log(`sent ${sent}`);
    process.exit(0);
  });
  console.log("connected");
  await Promise.all(
    sockets.map(async (s, c) => {
      for (let i = 0; !stop; i++) {
        try {
          const body = spec.identities[c % spec.identities.length]?.body;
          await s.send(encodeRequest(GroupCommand.History, `a${c}-${i}`, { ...body, after: i % spec.big }));
          sent++;
        } catch {
          return;
        }
      }
    }),
  );
}
const CONNECTIONS = Number(values.connections);
const SECONDS = Number(values.seconds);
const BIG = Number(values.big);
const insecure = values.insecure;
const extraEnv = Object.fromEntries(values.env.map((kv) => kv.split("=", 2) as [string, string]));

const home = fs.mkdtempSync(path.join(os.tmpdir(), "gm-hostile-"));
const dataDir = values.store ?? path.join(home, "data");
const procs: RunningProcess[] = [];
const cleanup = async () => {
  await Promise.all(procs.map((p) => p.stop()));
  fs.rmSync(home, { recursive: true, force: true });
};

function rssMb(pid: number): number {
  if (!fs.existsSync(`/proc/${pid}`)) throw new Error(`process ${pid} has exited`);
  const kb = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kb) / 1024;
}
function rollup(pid: number): string {
  const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const pick = (k: string) => Math.round(Number(new RegExp(`${k}:\\s+(\\d+)`).exec(text)?.[1]) / 1024);
  return `Rss ${pick("Rss")} Anon ${pick("Anonymous")} File ${pick("Private_Clean") + pick("Shared_Clean")} MB`;
}

/** Makes the store: gm's schema, then the big texts through the store itself. */
async function makeStore(): Promise<void> {
  if (fs.existsSync(path.join(dataDir, "general.db"))) return;
  fs.mkdirSync(dataDir, { recursive: true });
  const store = SqliteGroupStore.open(dataDir, "general");
  const author = randomUUID();
  await store.join(author, "Ctrl");
  const text = "\u0001".repeat(Limits.textJsonBytes / 6);
  for (let i = 0; i < BIG; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, BIG - i) }, () =>
        store.append({ id: randomUUID(), user: author, name: "Ctrl", text }),
      ),
    );
  }
  await store.close();
}

const memlog = path.join(home, "memlog.mjs");
fs.writeFileSync(
  memlog,
  `setInterval(() => { const m = process.memoryUsage(); process.stderr.write("MEM " + JSON.stringify(m) + "\\n"); }, 250).unref();\n`,
);

try {
  await makeStore();
  const env = gmEnv({ GM_HOME: home, ...(insecure && { GM_INSECURE: "1" }) }, ["GM_SERVER"]);
  const flags = insecure ? ["--insecure"] : [];
  const dir = new RunningProcess(["server", "--bind", "127.0.0.1:0", "--quiet", ...flags], { env, label: "directory" });
  procs.push(dir);
  const dm = await awaitReady(dir, /listening on (tcp:\/\/\S+) \(pid \d+\); (?:public key (\S{40})|INSECURE)/, 15_000);
  const dirEndpoint = dm[1] as string;
  const dirKey = dm[2] ?? "";
  const group = new RunningProcess(
    [
      "group",
      "--name",
      "general",
      "--address",
      "127.0.0.1:0",
      "--server",
      dirEndpoint,
      "--data-dir",
      dataDir,
      ...flags,
    ],
    {
      env: { ...env, ...extraEnv },
      label: "group",
      ...(values.nofile !== undefined && { prefix: ["prlimit", `--nofile=${values.nofile}`] }),
      node: [
        ...(values.memlog ? ["--import", memlog] : []),
        ...(values.prof !== undefined ? ["--cpu-prof", "--cpu-prof-dir", values.prof] : []),
        path.resolve("bin/run.js"),
      ],
    },
  );
  procs.push(group);
  const gmatch = await awaitReady(
    group,
    /serving .* on (tcp:\/\/\S+) \(pid \d+\); (?:public key (\S{40})|INSECURE)/,
    15_000,
  );
  const endpoint = gmatch[1] as string;
  const groupKey = gmatch[2] ?? "";
  const pid = group.pid;

  const client = (name: string) => {
    const profile = Profile.load(name, path.join(home, "profiles"));
    return new GmClient(profile, {
      server: dirEndpoint,
      ...(!insecure && { security: { keys: profile.keys, serverKey: dirKey } }),
    });
  };
  const reader = client("reader");
  await reader.join("general");
  // The attackers: one member, or several (--identities), each with its connections.
  const identities = [];
  for (let n = 0; n < Number(values.identities); n++) {
    const attacker = client(`attacker${n}`);
    await attacker.join("general");
    const keys = Profile.load(`attacker${n}`, path.join(home, "profiles")).keys;
    const security = insecure ? undefined : { keys, serverKey: groupKey };
    identities.push({
      security,
      body: {
        group: "general",
        user: attacker.user,
        after: 0,
        limit: 1000,
        ...(security !== undefined && { key: keys.publicKey, proof: clientProof(keys, groupKey) }),
      },
    });
    await attacker.close();
  }
  await new Promise((r) => setTimeout(r, 1000));
  const start = rssMb(pid);
  let peak = start;
  let peakRollup = rollup(pid);
  let peakMem = "";
  const sample = () => {
    if (!group.running) {
      console.error(
        `group died: ${group.stdout.slice(-2000)}\n${group.stderr.replace(/^MEM .*\n/gm, "").slice(-4000)}`,
      );
      clearInterval(sampler);
      void cleanup().finally(() => process.exit(1));
      return;
    }
    const r = rssMb(pid);
    if (r > peak) {
      peak = r;
      peakRollup = rollup(pid);
      const mem = group.stderr.lastIndexOf("MEM ");
      if (mem >= 0) peakMem = group.stderr.slice(mem, group.stderr.indexOf("\n", mem));
    }
  };
  const sampler = setInterval(sample, 100);

  // The attackers run in a process of their own, so that their send loops do not slow the reader.
  const attackSpec = JSON.stringify({
    endpoint,
    connections: CONNECTIONS,
    heartbeat: Number(values["attacker-heartbeat"]),
    identities,
    big: BIG,
  });
  const attackers = new RunningProcess(["--attack", attackSpec], {
    env: process.env,
    label: "attackers",
    node: ["--import", "tsx", new URL(import.meta.url).pathname],
  });
  procs.push(attackers);
  await attackers.waitFor(/connected/, 30_000);
  // Another member meanwhile: a page of history and a send, over and over.
  const t0 = Date.now();
  const reads: number[] = [];
  const pages: number[] = [];
  const sends: number[] = [];
  const failures: string[] = [];
  while (Date.now() - t0 < SECONDS * 1000) {
    const a = performance.now();
    try {
      const page = await reader.page("general", { after: reads.length % BIG, limit: 1000 });
      assert.ok(page.messages.length > 0);
      const b = performance.now();
      pages.push(b - a);
      await reader.send("general", `still here ${reads.length}`);
      sends.push(performance.now() - b);
      reads.push(performance.now() - a);
    } catch (err) {
      failures.push((err as Error).message.slice(0, 120));
    }
  }
  sample();
  const atEnd = rssMb(pid);
  await attackers.stop("SIGTERM");
  const sent = Number(/sent (\d+)\s*$/.exec(attackers.stdout)?.[1] ?? Number.NaN);
  const closedAt = Date.now();
  await new Promise((r) => setTimeout(r, 2000));
  const after2 = rssMb(pid);
  await new Promise((r) => setTimeout(r, Number(values.after) * 1000 - 2000));
  const afterN = rssMb(pid);
  clearInterval(sampler);
  // After the attack, a full page again.
  const a = performance.now();
  const page = (await reader.page("general", { after: 0, limit: 1000 })).messages;
  const readAfter = performance.now() - a;
  await reader.close();
  const sorted = reads.toSorted((x, y) => x - y);
  const q = (p: number) => (sorted.length === 0 ? Number.NaN : sorted[Math.floor(p * (sorted.length - 1))]);
  console.log(
    JSON.stringify({
      connections: CONNECTIONS,
      identities: Number(values.identities),
      mode: insecure ? "insecure" : "curve",
      env: extraEnv,
      requestsSent: sent,
      rss: {
        start: Math.round(start),
        peak: Math.round(peak),
        end: Math.round(atEnd),
        after2s: Math.round(after2),
        [`after${values.after}s`]: Math.round(afterN),
      },
      peakRollup,
      peakMem,
      reader: {
        rounds: reads.length,
        failures: failures.length,
        firstFailure: failures[0],
        p50ms: Math.round(q(0.5) ?? 0),
        maxMs: Math.round(sorted.at(-1) ?? 0),
        pagesMs: pages.map(Math.round).slice(0, 12),
        sendsMs: sends.map(Math.round).slice(0, 12),
      },
      readAfter: { messages: page.length, ms: Math.round(readAfter), sinceClose: Date.now() - closedAt },
      log: group.stdout
        .split("\n")
        .filter((l) => /refused|holds|busy|stalled/i.test(l))
        .slice(0, 12),
    }),
  );
} catch (err) {
  for (const p of procs)
    console.error(`${p.label}: ${p.stdout.slice(-2000)}\n${p.stderr.replace(/^MEM .*\n/gm, "").slice(-4000)}`);
  throw err;
} finally {
  await cleanup();
}
