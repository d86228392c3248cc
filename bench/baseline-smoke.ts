/**
 * Smoke run of every baseline benchmark for ~1 s each; prints a table to
 * stdout (progress goes to stderr) and checks that no worker is left running.
 *
 *   node --import tsx bench/baseline-smoke.ts [--seconds S]
 */
import { parseArgs } from "node:util";
import { type BenchResult, echo, pubsub, sqliteBatch, sqliteSingle } from "./baseline/index.js";
import { fmt, progress, table } from "./lib/output.js";
import { liveWorkerCount } from "./lib/procs.js";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "1" } } });
const seconds = Number.parseFloat(values.seconds);

type Row = BenchResult & { note?: string };

const runs: Array<[string, () => Promise<Row>]> = [
  ["echo c=1 w=1", () => echo({ clients: 1, window: 1, seconds })],
  ["echo c=1 w=100", () => echo({ clients: 1, window: 100, seconds })],
  ["echo c=4 w=1", () => echo({ clients: 4, window: 1, seconds })],
  ["echo c=1 s=32 w=1", () => echo({ clients: 1, sockets: 32, window: 1, seconds })],
  ["echo c=1 w=1 curve", () => echo({ clients: 1, window: 1, seconds, curve: true })],
  ["echo c=1 w=100 curve", () => echo({ clients: 1, window: 100, seconds, curve: true })],
  ...[1, 10, 100].map((n): [string, () => Promise<Row>] => [
    `pubsub n=${n}`,
    async () => {
      const r = await pubsub({ subscribers: n, rate: 1000, seconds });
      return { ...r, note: `procs=${r.layout.length} loss=${(r.loss * 100).toFixed(2)}% pub=${fmt(r.publishRate)}/s` };
    },
  ]),
  [
    "pubsub n=100 curve",
    async () => {
      const r = await pubsub({ subscribers: 100, rate: 1000, seconds, curve: true });
      return { ...r, note: `procs=${r.layout.length} loss=${(r.loss * 100).toFixed(2)}% pub=${fmt(r.publishRate)}/s` };
    },
  ],
  ["sqlite single", () => sqliteSingle({ seconds })],
  ["sqlite batch", () => sqliteBatch({ seconds, batch: 100 })],
];

const rows: string[][] = [];
let failures = 0;
const t0 = Date.now();
for (const [label, run] of runs) {
  progress(`--- ${label}`);
  try {
    const r = await run();
    rows.push([r.name, fmt(r.value), r.unit, fmt(r.p50), fmt(r.p99), r.note ?? ""]);
  } catch (err) {
    failures++;
    progress(`${label} FAILED: ${err instanceof Error ? err.message : String(err)}`);
    rows.push([label, "FAILED", "", "", "", err instanceof Error ? err.message : String(err)]);
  }
}

process.stdout.write(`\n${table(["benchmark", "value", "unit", "p50 us", "p99 us", "note"], rows)}\n`);
process.stdout.write(
  `\ntotal ${((Date.now() - t0) / 1000).toFixed(1)} s, workers still running: ${liveWorkerCount()}\n`,
);
if (liveWorkerCount() !== 0) failures++;
process.exitCode = failures > 0 ? 1 : 0;
