import { readdirSync } from "node:fs";
import { StoreError } from "../protocol/errors.js";
import { groupNameKey } from "../protocol/validate.js";

/** The files that say a group's store exists in a data dir: the database and its high-water mark. */
const STORE_FILE = /^(.+)\.(db|hwm)$/;

/**
 * The spelling group `name`'s files have in `dataDir` (PROTOCOL.md §4: names that differ only in
 * case are one name, so one group has one store whatever case it is asked for in): the spelling
 * of an existing `<spelling>.db` or `.hwm` whose name has the same case fold, `name` itself if it
 * has files or none does. Two spellings with files (an older gm, which told case apart, made
 * both) and neither `name` itself is refused: which one is the group is the operator's call.
 */
export function storeSpelling(dataDir: string, name: string): string {
  let entries: string[];
  try {
    entries = readdirSync(dataDir);
  } catch {
    return name; // no data dir yet: the store will be the first file in it
  }
  const key = groupNameKey(name);
  const found = new Set<string>();
  for (const entry of entries) {
    const stem = STORE_FILE.exec(entry)?.[1];
    if (stem !== undefined && groupNameKey(stem) === key) found.add(stem);
  }
  if (found.size === 0 || found.has(name)) return name;
  if (found.size === 1) return [...found][0] as string;
  throw new StoreError(
    `${dataDir} holds stores of ${[...found].map((s) => `"${s}"`).join(" and ")}, which are one group name (names that differ only in case are one); give --name as one of them exactly, or move the other's files away`,
  );
}
