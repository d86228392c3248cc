import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { StoreError } from "../protocol/errors.js";
import { isKey, type Key } from "../protocol/keys.js";
import { groupNameKey } from "../protocol/validate.js";

interface Binding {
  /** The name as it was first registered (names are compared by case fold, PROTOCOL.md §4). */
  readonly name: string;
  readonly key: Key;
}

/**
 * Which group server key each group name belongs to (PROTOCOL.md §12): the key that first
 * registered the name, kept across restarts in one JSON file, written atomically (temp file and
 * rename) each time a name is bound or released. Without a file (tests), bindings live in memory.
 * Names that differ only by case are one name: `get("GENERAL")` is the binding of `general`.
 */
export class NameBindings {
  /** By the name's case fold. */
  private readonly names = new Map<string, Binding>();
  /**
   * Names a file made by an older gm (which told case apart) bound a second time in another case:
   * the first one in the file is kept, these are not (the directory logs them at start).
   */
  readonly dropped: string[] = [];

  constructor(private readonly file?: string) {
    if (file === undefined) return;
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw new StoreError(`cannot read the directory's name bindings ${file}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new StoreError(`the directory's name bindings ${file} are damaged (not JSON); fix or move the file`, {
        cause: err,
      });
    }
    const names = (parsed as { names?: unknown })?.names;
    if (typeof names !== "object" || names === null) {
      throw new StoreError(
        `the directory's name bindings ${file} are damaged (no "names" object); fix or move the file`,
      );
    }
    for (const [name, key] of Object.entries(names)) {
      if (!isKey(key)) throw new StoreError(`the directory's name bindings ${file} hold a bad key for "${name}"`);
      const kept = this.names.get(groupNameKey(name));
      if (kept === undefined) this.names.set(groupNameKey(name), { name, key });
      else if (kept.key !== key) {
        this.dropped.push(
          `the name bindings ${file} bind "${name}" and "${kept.name}", one name, to two keys: kept "${kept.name}" (the first), ignored "${name}"; \`gm server --release ${kept.name}\` frees the name`,
        );
      }
    }
  }

  /** The key a name (in any case) belongs to, if any. */
  get(name: string): Key | undefined {
    return this.names.get(groupNameKey(name))?.key;
  }

  /** The spelling a name (in any case) was bound with, if it is bound. */
  spelling(name: string): string | undefined {
    return this.names.get(groupNameKey(name))?.name;
  }

  /** Binds an unbound name to a key and saves it. */
  bind(name: string, key: Key): void {
    this.names.set(groupNameKey(name), { name, key });
    this.save();
  }

  /** Releases a name in whatever case it was bound (an operator's decision); true if it was bound. */
  release(name: string): boolean {
    const had = this.names.delete(groupNameKey(name));
    if (had) this.save();
    return had;
  }

  get size(): number {
    return this.names.size;
  }

  private save(): void {
    if (this.file === undefined) return;
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    const names = Object.fromEntries(
      [...this.names.values()].sort((a, b) => a.name.localeCompare(b.name)).map((b) => [b.name, b.key]),
    );
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, `${JSON.stringify({ names }, null, 2)}\n`);
      fsyncSync(fd); // a binding the directory answered with survives a crash
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }
}
