/**
 * Baseline SQLite insert benchmark (better-sqlite3, WAL, synchronous=FULL).
 *
 *   --mode single|batch   single: one 100-byte row per commit (autocommit);
 *                         batch: --batch rows per explicit transaction
 *   --seconds S           run for S seconds (default 1)
 *   --batch N             rows per commit in batch mode (default 100)
 *
 * The database lives in a fresh directory from fs.mkdtempSync(os.tmpdir()/...)
 * that is removed at the end (also on error). With synchronous=FULL in WAL
 * mode every commit fsyncs the WAL, so "commit latency" is mostly fsync cost
 * of the file system that holds os.tmpdir() (reported as `dir`).
 *
 * Child protocol (see bench/lib/worker.ts):
 *   ready  -> { dir }
 *   start  <-
 *   result -> { mode, rows, commits, elapsedMs, rowsPerSec, commitLatenciesUs }
 * better-sqlite3 is synchronous, so the measured loop blocks this process's
 * event loop for S seconds; that is why it runs in its own process.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { progress } from "../lib/output.js";
import { Samples, summarize } from "../lib/stats.js";
import { nowNs } from "../lib/time.js";
import { runWorker, waitForStart, workerReady, workerResult } from "../lib/worker.js";

const { values } = parseArgs({
  options: {
    mode: { type: "string", default: "single" },
    seconds: { type: "string", default: "1" },
    batch: { type: "string", default: "100" },
  },
});

export interface SqliteResult {
  mode: "single" | "batch";
  batch: number;
  rows: number;
  commits: number;
  elapsedMs: number;
  rowsPerSec: number;
  commitLatenciesUs: number[];
  dir: string;
}

const ROW_TEXT = "x".repeat(100);

runWorker(async () => {
  const mode = values.mode;
  if (mode !== "single" && mode !== "batch") throw new Error(`--mode must be single or batch, not ${mode}`);
  const seconds = Number.parseFloat(values.seconds);
  const batch = mode === "single" ? 1 : Math.max(1, Number.parseInt(values.batch, 10));

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gm-bench-sqlite-"));
  let db: Database.Database | undefined;
  // Remove the directory however this process ends: normal exit, error,
  // SIGTERM from the parent, parent gone (IPC disconnect -> exit) or the
  // lifetime limit. Only SIGKILL can skip this, and the parent sends SIGKILL
  // only after a grace period.
  const cleanup = (): void => {
    try {
      db?.close();
    } catch {
      // already closed or busy; removing the directory is what matters
    }
    db = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.on("exit", cleanup);
  process.on("SIGTERM", () => process.exit(143));
  try {
    db = new Database(path.join(dir, "bench.db"));
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.exec("CREATE TABLE msg (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, body TEXT NOT NULL)");
    const insert = db.prepare("INSERT INTO msg (ts, body) VALUES (?, ?)");
    const conn = db;
    const insertBatch = conn.transaction((n: number) => {
      for (let i = 0; i < n; i++) insert.run(Date.now(), ROW_TEXT);
    });

    await workerReady({ dir });
    await waitForStart();

    const latencies = new Samples(1 << 14);
    const start = nowNs();
    const deadline = start + BigInt(Math.round(seconds * 1e9));
    let rows = 0;
    let commits = 0;
    let t = start;
    while (t < deadline) {
      const t0 = t;
      if (batch === 1)
        insert.run(Date.now(), ROW_TEXT); // autocommit: one commit
      else insertBatch(batch);
      t = nowNs();
      latencies.push(Number(t - t0) / 1000);
      rows += batch;
      commits++;
    }
    const elapsedMs = Number(t - start) / 1e6;
    const check = conn.prepare("SELECT count(*) AS n FROM msg").get() as { n: number };
    if (check.n !== rows) throw new Error(`row count mismatch: ${check.n} != ${rows}`);
    const s = summarize(latencies.values());
    const rowsPerSec = rows / (elapsedMs / 1000);
    progress(
      `sqlite ${mode}${batch > 1 ? ` x${batch}` : ""}: ${rows} rows / ${commits} commits in ${elapsedMs.toFixed(0)} ms (${rowsPerSec.toFixed(0)} rows/s), commit p50 ${s.p50.toFixed(0)} us`,
    );
    cleanup();
    const result: SqliteResult = {
      mode,
      batch,
      rows,
      commits,
      elapsedMs,
      rowsPerSec,
      commitLatenciesUs: latencies.toArray(),
      dir,
    };
    await workerResult(result);
  } finally {
    cleanup();
  }
});
