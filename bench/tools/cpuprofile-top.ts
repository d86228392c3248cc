/**
 * Summarizes a V8 .cpuprofile (from `npm run bench -- --cpu-prof`, or `node --cpu-prof`): the
 * functions with the most self time, and the most inclusive ("total") time, with their source.
 *
 *   node --import tsx bench/tools/cpuprofile-top.ts FILE.cpuprofile [--top N] [--filter TEXT]
 */
import fs from "node:fs";
import { parseArgs } from "node:util";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: "string", default: "30" }, filter: { type: "string" } },
});
const file = positionals[0];
if (file === undefined) throw new Error("usage: cpuprofile-top.ts FILE.cpuprofile [--top N]");
const p = JSON.parse(fs.readFileSync(file, "utf8")) as Profile;
const top = Number.parseInt(values.top, 10);

// Time per sample: the deltas, attributed to the sampled node.
const selfUs = new Map<number, number>();
const samples = p.samples ?? [];
const deltas = p.timeDeltas ?? [];
for (let i = 0; i < samples.length; i++) {
  const id = samples[i] as number;
  selfUs.set(id, (selfUs.get(id) ?? 0) + (deltas[i + 1] ?? deltas[i] ?? 0));
}
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const key = (n: Node): string => {
  const f = n.callFrame;
  const where =
    f.url === ""
      ? ""
      : ` ${f.url.replace(/^file:\/\/.*?\/(node_modules|dist|src|bench)\//, "$1/")}:${f.lineNumber + 1}`;
  return `${f.functionName || "(anonymous)"}${where}`;
};

const self = new Map<string, number>();
const total = new Map<string, number>();
let all = 0;
for (const [id, us] of selfUs) {
  all += us;
  const n = byId.get(id) as Node;
  self.set(key(n), (self.get(key(n)) ?? 0) + us);
  // Inclusive: every distinct function on the stack gets the sample once.
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const k = key(byId.get(cur) as Node);
    if (seen.has(k)) continue;
    seen.add(k);
    total.set(k, (total.get(k) ?? 0) + us);
  }
}
// Piped into `head`, the rest of the output has nowhere to go: stop quietly instead of throwing.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});
const wall = p.endTime - p.startTime;
const busy = all - (self.get("(idle)") ?? 0);
process.stdout.write(
  `${file}\nprofile ${(wall / 1e6).toFixed(2)} s, sampled ${(all / 1e6).toFixed(2)} s, not idle ${(busy / 1e6).toFixed(2)} s (${((100 * busy) / all).toFixed(1)}%)\n`,
);
const print = (title: string, m: Map<string, number>): void => {
  process.stdout.write(`\n${title} (ms, % of not-idle)\n`);
  const entries = [...m.entries()]
    .filter(([k]) => values.filter === undefined || k.includes(values.filter))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top);
  for (const [k, us] of entries) {
    process.stdout.write(
      `${(us / 1000).toFixed(1).padStart(9)}  ${((100 * us) / busy).toFixed(1).padStart(5)}%  ${k}\n`,
    );
  }
};
print("self time", self);
print("total time", total);
