// Bundles the CLI (src/main.ts with @oclif/core and every command) into dist/bundle/, so that
// starting `gm` loads a handful of files instead of a few hundred. ZeroMQ and SQLite stay external
// and are only imported, from their own chunks, by the commands that use them.
import { build } from "esbuild";

await build({
  entryPoints: ["src/main.ts"],
  outdir: "dist/bundle",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  external: ["zeromq", "better-sqlite3", "typescript", "ts-node"],
  // Bundled CommonJS dependencies call require(); give the ESM bundle one.
  banner: {
    js: "import { createRequire as __gmRequire } from 'node:module'; const require = __gmRequire(import.meta.url);",
  },
  logLevel: "warning",
});

// `gm --help` is the first thing a newcomer runs: keep oclif's rendering of the root help as text,
// so bin/run.js can print it without loading the CLI at all (a test checks it matches oclif's).
const { spawnSync } = await import("node:child_process");
const { writeFileSync } = await import("node:fs");
const help = spawnSync(process.execPath, ["bin/run.js", "--help"], {
  env: { ...process.env, GM_NO_HELP_CACHE: "1", NO_COLOR: "1", COLUMNS: "80" },
  encoding: "utf8",
});
if (help.status !== 0) throw new Error(`gm --help failed while bundling: ${help.stderr}`);
// The platform and Node version are those of whoever runs it: bin/run.js fills them in.
const runtime = `${process.platform}-${process.arch} node-${process.version}`;
writeFileSync("dist/bundle/help.txt", help.stdout.replace(runtime, "{{runtime}}"));
