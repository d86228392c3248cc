#!/usr/bin/env node
/**
 * Experiment: the group server (dist/group/group-server.js, built) started without the oclif CLI
 * around it, with knobs that src does not have yet, to measure what a change would buy before it
 * is made. Takes the same arguments as `gm group` and prints the same ready line, so the bench can
 * run it in place of bin/run.js:
 *
 *   npm run bench -- --only history,ingest,memory --group-script bench/tools/group-lean.mjs
 *
 * Knobs (environment):
 *   GM_LEAN_CACHE_KIB=N   PRAGMA cache_size = -N on each store's connection (SQLite page cache;
 *                         this better-sqlite3 build defaults to 16,000 KiB)
 *   GM_LEAN_NO_COUNT=1    report lastSeq instead of running SELECT count(*) at start
 *   GM_LEAN_MEMLOG=MS     log process.memoryUsage() to stderr every MS milliseconds
 *   GM_LEAN_COMMIT=cached       SqliteGroupStore.commit() with its per-write savepoint wrapper made
 *                               once instead of per write (db.transaction(op.apply) per call today)
 *   GM_LEAN_COMMIT=nosavepoint  no savepoint per write: the batch runs in one transaction, and
 *                               only if a write throws is the batch redone with savepoints
 *   GM_LEAN_SEND_TIMEOUT0=1     sendTimeout = 0 on the ROUTER: zeromq.js then skips its
 *                               ZMQ_EVENTS check (a poll(2)) before every send
 *   GM_LEAN_SYNC=inline         fdatasync the WAL on the event loop (fdatasyncSync) right after each
 *                               batch's commit, instead of on the thread pool
 *   GM_LEAN_PUB=1               live delivery through a PUB socket (one send per message; libzmq fans
 *                               out) instead of one ROUTER send per subscriber; its endpoint is
 *                               appended to the ready line as " events tcp://...", and the bench's
 *                               members then connect SUB sockets to it (bench/gm/live-member.ts --events)
 *   GM_LEAN_FSYNC_STATS=1       count the WAL fdatasyncs and appends, time each fdatasync (on the
 *                               thread pool, callback to callback), print a summary at exit
 */
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { parseArgs } from "node:util";
import * as zmq from "zeromq";
import { GroupServer } from "../../dist/group/group-server.js";
import { bindEndpoint, connectEndpoint } from "../../dist/net/endpoint.js";
import { Outbox } from "../../dist/net/outbox.js";
import { SqliteGroupStore } from "../../dist/store/sqlite.js";

const stats = { fsyncs: 0, appends: 0, fsyncUs: [] };
if (process.env.GM_LEAN_FSYNC_STATS === "1") {
  // The store imports fdatasync from node:fs; syncBuiltinESMExports() updates that live binding.
  const original = fs.fdatasync;
  fs.fdatasync = (fd, cb) => {
    const t0 = process.hrtime.bigint();
    stats.fsyncs++;
    original(fd, (err) => {
      stats.fsyncUs.push(Number(process.hrtime.bigint() - t0) / 1000);
      cb(err);
    });
  };
  syncBuiltinESMExports();
  const append = SqliteGroupStore.prototype.append;
  SqliteGroupStore.prototype.append = function (m) {
    stats.appends++;
    return append.call(this, m);
  };
}

if (process.env.GM_LEAN_SYNC === "inline") {
  // A synchronous SqliteGroupStore.sync(): no thread-pool round trip (two thread wake-ups).
  SqliteGroupStore.prototype.sync = function sync() {
    const batch = this.committed;
    this.committed = [];
    const upTo = this.lastSeq;
    const t0 = process.hrtime.bigint();
    try {
      stats.fsyncs++;
      fs.fdatasyncSync(this.walFd);
    } catch (err) {
      for (const op of batch) op.reject(err);
      return undefined;
    } finally {
      if (process.env.GM_LEAN_FSYNC_STATS === "1") stats.fsyncUs.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    this.durable = upTo;
    for (const op of batch) {
      if (op.error === undefined) op.resolve(op.result);
      else op.reject(op.error);
    }
    return undefined; // commit() keeps `syncing` undefined: the next batch syncs at once too
  };
}

const commitVariant = process.env.GM_LEAN_COMMIT;
if (commitVariant === "cached" || commitVariant === "nosavepoint") {
  // A copy of SqliteGroupStore.commit() (dist/store/sqlite.js) with the change applied.
  SqliteGroupStore.prototype.commit = function commit() {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    const seqBefore = this.lastSeq;
    const tsBefore = this.lastTs;
    this.savepoint ??= this.db.transaction((apply) => apply());
    this.safeBatch ??= this.db.transaction((ops) => {
      for (const op of ops) {
        try {
          op.result = this.savepoint(op.apply);
        } catch (err) {
          op.error = err;
        }
      }
    });
    this.fastBatch ??= this.db.transaction((ops) => {
      for (const op of ops) op.result = op.apply();
    });
    try {
      if (commitVariant === "cached") this.safeBatch(batch);
      else {
        try {
          this.fastBatch(batch);
        } catch {
          // One write failed and the whole batch was rolled back: redo it write by write.
          this.lastSeq = seqBefore;
          this.lastTs = tsBefore;
          for (const op of batch) op.result = undefined;
          this.safeBatch(batch);
        }
      }
    } catch (err) {
      this.lastSeq = seqBefore;
      this.lastTs = tsBefore;
      for (const op of batch) op.reject(err);
      return;
    }
    this.committed.push(...batch);
    this.syncing ??= this.sync();
  };
}

const { values } = parseArgs({
  options: {
    name: { type: "string", multiple: true },
    address: { type: "string" },
    server: { type: "string" },
    "data-dir": { type: "string" },
    quiet: { type: "boolean" },
  },
});

const server = await GroupServer.start({
  names: values.name ?? [],
  bind: bindEndpoint(values.address ?? "127.0.0.1:0"),
  ...(values.server !== undefined && { directory: connectEndpoint(values.server) }),
  dataDir: values["data-dir"] ?? ".",
});
if (process.env.GM_LEAN_SEND_TIMEOUT0 === "1") server.rpc.socket.sendTimeout = 0;
let events = "";
if (process.env.GM_LEAN_PUB === "1") {
  const pub = new zmq.Publisher({ linger: 0, sendHighWaterMark: 100_000 });
  await pub.bind(server.endpoint.replace(/:\d+$/, ":*"));
  events = ` events ${pub.lastEndpoint}`;
  const outbox = new Outbox(pub, () => {});
  // Replaces GroupServer.publish(): called once per durable message, after the commit.
  server.publish = (group, message) => outbox.push([Buffer.from(group), Buffer.from(JSON.stringify(message))]);
}
const cacheKib = Number(process.env.GM_LEAN_CACHE_KIB);
// The stores are private in TypeScript, not at run time: good enough for an experiment.
for (const store of server.stores.values()) {
  if (cacheKib > 0) store.db.pragma(`cache_size = -${cacheKib}`);
  if (process.env.GM_LEAN_NO_COUNT !== "1") store.count();
}
const memlog = Number(process.env.GM_LEAN_MEMLOG);
if (memlog > 0) {
  const mb = (n) => (n / 1e6).toFixed(1);
  setInterval(() => {
    const m = process.memoryUsage();
    process.stderr.write(
      `mem rss ${mb(m.rss)} heapTotal ${mb(m.heapTotal)} heapUsed ${mb(m.heapUsed)} external ${mb(m.external)} arrayBuffers ${mb(m.arrayBuffers)}\n`,
    );
  }, memlog).unref();
}
console.log(`gm group: serving ${(values.name ?? []).join(", ")} on ${server.endpoint} (pid ${process.pid})${events}`);
await new Promise((resolve) => {
  process.once("SIGTERM", resolve);
  process.once("SIGINT", resolve);
});
await server.close();
if (stats.fsyncs > 0) {
  const sorted = stats.fsyncUs.sort((a, b) => a - b);
  const pct = (p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]?.toFixed(0);
  process.stderr.write(
    `fsync stats: ${stats.fsyncs} fdatasyncs, ${stats.appends} appends (${(stats.appends / stats.fsyncs).toFixed(1)} per fdatasync), fdatasync callback-to-callback p50 ${pct(50)} us p99 ${pct(99)} us\n`,
  );
}
