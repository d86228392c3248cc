/**
 * The durable send path of two versions of the store, side by side: another checkout's
 * SqliteGroupStore (`--before`, e.g. a `git worktree` of an older commit, with its node_modules)
 * against this one's, in alternating runs on fresh groups (the order swapped every pair), texts of
 * 15 words from a 10,000-word vocabulary. Prints each run's wall time and the process's CPU time
 * per message (appends awaited batch by batch, fdatasync included, then close), and the medians.
 *
 *   node --import tsx bench/experiments/store-ab.ts --before ../gm-old [--messages 20000] [--batch 32] [--pairs 6]
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { v4 as uuidv4, v7 as uuidv7 } from "uuid";
import { SqliteGroupStore } from "../../src/store/sqlite.js";

const { values } = parseArgs({
  options: {
    before: { type: "string" },
    messages: { type: "string", default: "20000" },
    batch: { type: "string", default: "32" },
    pairs: { type: "string", default: "6" },
  },
});
if (values.before === undefined) throw new Error("--before <checkout> is required");
const N = Number.parseInt(values.messages, 10);
const BATCH = Number.parseInt(values.batch, 10);
const PAIRS = Number.parseInt(values.pairs, 10);

/** What this benchmark needs of a store, in any version. */
interface Store {
  join(user: string, name: string): Promise<unknown>;
  append(message: { id: string; user: string; name: string; text: string }): Promise<unknown>;
  close(): Promise<void>;
}
type Opener = { open(dir: string, name: string): Store };
const older = (await import(path.resolve(values.before, "src/store/sqlite.ts"))) as { SqliteGroupStore: Opener };
const versions: Record<string, Opener> = { before: older.SqliteGroupStore, after: SqliteGroupStore };

let seed = 42;
const random = (): number => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
};
const letters = () => String.fromCharCode(97 + Math.floor(random() * 26));
const vocabulary = Array.from({ length: 10_000 }, () =>
  Array.from({ length: 3 + Math.floor(random() * 7) }, letters).join(""),
);
const texts = Array.from({ length: 1000 }, () =>
  Array.from({ length: 15 }, () => vocabulary[Math.floor(random() * vocabulary.length)]).join(" "),
);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gm-store-ab-"));
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
const user = uuidv4();
let runs = 0;

async function run(version: Opener): Promise<{ wall: number; cpu: number }> {
  const store = version.open(dir, `g${runs++}`);
  await store.join(user, "bench");
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  let i = 0;
  for (let done = 0; done < N; done += BATCH) {
    const n = Math.min(BATCH, N - done);
    await Promise.all(
      Array.from({ length: n }, () =>
        store.append({ id: uuidv7(), user, name: "bench", text: texts[i++ % texts.length] as string }),
      ),
    );
  }
  await store.close(); // what a store does after its last batch counts too
  const cpu = process.cpuUsage(cpu0);
  return { wall: Number(process.hrtime.bigint() - t0) / 1000 / N, cpu: (cpu.user + cpu.system) / N };
}

const results: Record<string, Array<{ wall: number; cpu: number }>> = { before: [], after: [] };
for (let p = 0; p < PAIRS; p++) {
  for (const name of p % 2 === 0 ? ["before", "after"] : ["after", "before"]) {
    results[name]?.push(await run(versions[name] as Opener));
  }
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};
console.log(`${N} messages in batches of ${BATCH}, ${PAIRS} pairs; us per message`);
for (const [name, rs] of Object.entries(results)) {
  const walls = rs.map((r) => r.wall);
  const cpus = rs.map((r) => r.cpu);
  console.log(
    `${name.padEnd(7)} wall ${walls.map((w) => w.toFixed(1)).join(" ")} (median ${median(walls).toFixed(1)}); ` +
      `CPU ${cpus.map((c) => c.toFixed(1)).join(" ")} (median ${median(cpus).toFixed(1)})`,
  );
}
