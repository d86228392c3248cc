/** Where the bench is: the project root (children run there so `--import tsx` resolves) and bench/. */
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Root of the project (bench/lib/ -> ../..); children run with this cwd so `--import tsx` resolves. */
export const PROJECT_ROOT: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Absolute path of a file under bench/, given relative to bench/. */
export function benchPath(relative: string): string {
  return path.join(PROJECT_ROOT, "bench", relative);
}
