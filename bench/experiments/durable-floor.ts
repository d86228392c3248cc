/**
 * What a durable reply costs on this machine before any gm code runs: the numbers behind
 * "Where gm still misses a target" in docs/PERFORMANCE.md. Plain zeromq and node:fs, no gm code.
 *
 *   1. fdatasync of a 4 KB overwrite (2,000 of them, one per ms): on an idle machine, then while
 *      32 echo client processes (one request outstanding each, as in the send32 workload) keep
 *      the 2 cores busy.
 *   2. Round trip of one client, one request at a time, against an echo server that answers at
 *      once, and against one that first does an fdatasync per request (a durable server with no
 *      other work): how much a blocking sync adds beyond its own duration.
 *   3. 32 clients, one outstanding each, against an echo server that answers everything pending
 *      every D ms (group commit with a commit cycle of D): messages per second for D = 0, 1, 3.
 *
 *   node --import tsx bench/experiments/durable-floor.ts
 *
 * Every child process is stopped by its handle and the temporary file is removed.
 */
import { type ChildProcess, fork } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as zmq from "zeromq";

const SELF = new URL(import.meta.url).pathname;
const quantiles = (xs: number[]) => {
  const a = [...xs].sort((x, y) => x - y);
  const q = (p: number) => (a[Math.floor(p * (a.length - 1))] ?? Number.NaN).toFixed(0);
  return `p50 ${q(0.5)} p90 ${q(0.9)} p99 ${q(0.99)} us`;
};

/** Child: one DEALER client; `rtt` mode times each round trip, `load` mode just loops. */
async function client(endpoint: string, mode: string, seconds: number): Promise<void> {
  const d = new zmq.Dealer({ linger: 0, receiveTimeout: 10_000 });
  d.connect(endpoint);
  const msg = Buffer.alloc(100);
  const rtts: number[] = [];
  let n = 0;
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    const t = performance.now();
    await d.send(msg);
    await d.receive();
    if (n++ > 300) rtts.push((performance.now() - t) * 1000);
  }
  d.close();
  process.send?.({ n, rtts: mode === "rtt" ? rtts : [] }, () => process.disconnect?.());
}

/** An echo ROUTER; `sync` fdatasyncs a file before each answer, `delayMs` answers in batches. */
async function echoServer(opts: { sync?: number; delayMs?: number }) {
  const r = new zmq.Router({ linger: 0 });
  await r.bind("tcp://127.0.0.1:*");
  const block = Buffer.alloc(4096, 1);
  let pending: Buffer[][] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = async () => {
    timer = undefined;
    const batch = pending;
    pending = [];
    for (const f of batch) await r.send(f);
  };
  const loop = (async () => {
    try {
      for await (const frames of r) {
        if (opts.sync !== undefined) {
          fs.writeSync(opts.sync, block, 0, block.length, 0);
          fs.fdatasyncSync(opts.sync);
        }
        if (!opts.delayMs) await r.send(frames);
        else {
          pending.push(frames);
          timer ??= setTimeout(() => void flush(), opts.delayMs);
        }
      }
    } catch {
      // closed
    }
  })();
  return {
    endpoint: r.lastEndpoint as string,
    close: async () => {
      clearTimeout(timer);
      r.close();
      await loop;
    },
  };
}

function clients(endpoint: string, count: number, mode: string, seconds: number) {
  // Children inherit this process's node options (the tsx loader).
  const kids: ChildProcess[] = Array.from({ length: count }, () =>
    fork(SELF, ["client", endpoint, mode, String(seconds)]),
  );
  const results = Promise.all(
    kids.map(
      (k) =>
        new Promise<{ n: number; rtts: number[] }>((ok, fail) => {
          k.once("message", (m) => ok(m as never));
          // The report may be processed after the exit event: give it a moment.
          k.once("exit", (code) =>
            setTimeout(() => fail(new Error(`a client exited (${code}) without a report`)), 500),
          );
        }),
    ),
  );
  const stop = () => Promise.all(kids.map((k) => (k.exitCode === null ? k.kill() : true)));
  return { results, stop };
}

async function fsyncLatencies(file: number): Promise<number[]> {
  const block = Buffer.alloc(4096, 1);
  const out: number[] = [];
  for (let i = 0; i < 2000; i++) {
    fs.writeSync(file, block, 0, block.length, (i % 256) * 4096);
    const t = performance.now();
    fs.fdatasyncSync(file);
    out.push((performance.now() - t) * 1000);
    await new Promise((r) => setTimeout(r, 1));
  }
  return out;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gm-durable-floor-"));
  const file = fs.openSync(path.join(dir, "f"), "w+");
  try {
    fs.writeSync(file, Buffer.alloc(256 * 4096, 1));
    fs.fsyncSync(file);
    console.log(`1. fdatasync, idle:                 ${quantiles(await fsyncLatencies(file))}`);
    {
      const echo = await echoServer({});
      const load = clients(echo.endpoint, 32, "load", 8);
      await new Promise((r) => setTimeout(r, 1000));
      console.log(`   fdatasync, 32 echo clients busy:  ${quantiles(await fsyncLatencies(file))}`);
      await load.results;
      await load.stop();
      await echo.close();
    }
    for (const sync of [undefined, file]) {
      const echo = await echoServer(sync === undefined ? {} : { sync });
      const one = clients(echo.endpoint, 1, "rtt", 3);
      const [r] = await one.results;
      console.log(
        `2. round trip, ${sync === undefined ? "plain echo:           " : "echo after fdatasync: "} ${quantiles(r?.rtts ?? [])}`,
      );
      await one.stop();
      await echo.close();
    }
    for (const delayMs of [0, 1, 3]) {
      const echo = await echoServer({ delayMs });
      const many = clients(echo.endpoint, 32, "load", 3);
      const rs = await many.results;
      const rate = rs.reduce((a, r) => a + r.n, 0) / 3;
      console.log(`3. 32 clients, commit cycle ${delayMs} ms:   ${rate.toFixed(0)} msg/s`);
      await many.stop();
      await echo.close();
    }
  } finally {
    fs.closeSync(file);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === "client") {
  await client(process.argv[3] as string, process.argv[4] as string, Number(process.argv[5]));
} else {
  await main();
}
