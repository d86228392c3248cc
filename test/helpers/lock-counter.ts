/**
 * A process that counts under a file lock: waits for a line on stdin (so that all of a test's
 * processes start together), then adds 1 to the number in <file>, <times> times, each a read and
 * a write under withFileLock. A lost update shows as a total short of the sum.
 *
 * Usage: lock-counter.ts <file> <times>
 */

import { once } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import { withFileLock } from "../../src/util/lock-file.js";

const [file, timesText] = process.argv.slice(2) as [string, string];
process.stdout.write("ready\n");
await once(process.stdin, "data");
for (let i = 0; i < Number(timesText); i++) {
  withFileLock(file, () => {
    const n = Number(readFileSync(file, "utf8"));
    writeFileSync(file, String(n + 1));
  });
}
process.stdout.write("done\n");
process.exit(0);
