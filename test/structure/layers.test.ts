/**
 * The shape of src/: no import cycles, and every import points down the layers
 * (commands → cli → user | group | directory → net | store → util → protocol).
 * Reads the sources themselves, so a new import that breaks the rule fails here, naming the file.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";

const SRC = resolve(import.meta.dirname, "../../src");

/** What each layer may import, besides itself. Top-level files (index.ts, main.ts) are entries. */
const ALLOWED: Record<string, readonly string[]> = {
  commands: ["cli", "user", "group", "directory", "net", "store", "protocol", "util"],
  cli: ["user", "group", "directory", "net", "store", "protocol", "util"],
  user: ["net", "protocol", "util"],
  group: ["net", "store", "protocol", "util"],
  directory: ["net", "protocol", "util"],
  net: ["protocol", "util"],
  store: ["protocol", "util"],
  util: ["protocol"],
  protocol: [],
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** Relative imports of a file (static, type-only and dynamic), as paths of .ts files under src. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specs = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)["'](\.[^"']+)["']/gm)].map((m) => m[1]);
  return specs.map((s) => resolve(dirname(file), (s as string).replace(/\.js$/, ".ts")));
}

const layerOf = (file: string): string => {
  const rel = relative(SRC, file).split("/");
  return rel.length === 1 ? "entry" : (rel[0] as string);
};
const name = (file: string) => `src/${relative(SRC, file)}`;

const graph = new Map(sources(SRC).map((f) => [f, importsOf(f)]));

describe("src/ layers", () => {
  it("has every layer it knows of, and knows every layer it has", () => {
    const layers = new Set([...graph.keys()].map(layerOf).filter((l) => l !== "entry"));
    assert.deepEqual([...layers].sort(), Object.keys(ALLOWED).sort());
  });

  it("imports only files that exist", () => {
    const missing = [...graph].flatMap(([f, deps]) =>
      deps.filter((d) => !graph.has(d)).map((d) => `${name(f)} -> ${d}`),
    );
    assert.deepEqual(missing, []);
  });

  it("imports only down the layers", () => {
    const wrong: string[] = [];
    for (const [file, deps] of graph) {
      const from = layerOf(file);
      if (from === "entry") continue;
      for (const dep of deps) {
        const to = layerOf(dep);
        if (to !== from && !(ALLOWED[from] ?? []).includes(to))
          wrong.push(`${name(file)} (${from}) -> ${name(dep)} (${to})`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it("has no import cycle", () => {
    const cycles: string[] = [];
    const state = new Map<string, "open" | "done">();
    const path: string[] = [];
    const visit = (file: string) => {
      state.set(file, "open");
      path.push(file);
      for (const dep of graph.get(file) ?? []) {
        if (state.get(dep) === "open") cycles.push([...path.slice(path.indexOf(dep)), dep].map(name).join(" -> "));
        else if (!state.has(dep) && graph.has(dep)) visit(dep);
      }
      path.pop();
      state.set(file, "done");
    };
    for (const file of graph.keys()) if (!state.has(file)) visit(file);
    assert.deepEqual(cycles, []);
  });
});
