import { join } from "node:path";
import { gmHome } from "../user/profile.js";

/** Where group servers keep their SQLite files unless --data-dir says otherwise. */
export function defaultDataDir(): string {
  return join(gmHome(), "data");
}
