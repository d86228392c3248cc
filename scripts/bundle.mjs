// Bundles the CLI (src/cli/main.ts with @oclif/core and every command) into dist/bundle/, so that
// starting `gm` loads a handful of files instead of a few hundred. ZeroMQ and SQLite stay external
// and are only imported, from their own chunks, by the commands that use them.
import { build } from "esbuild";

await build({
  entryPoints: ["src/cli/main.ts"],
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
