#!/usr/bin/env node
import { readFileSync } from "node:fs";

// NO_COLOR (https://no-color.org) turns colour off; chalk reads FORCE_COLOR=0 as "no colour".
if (process.env.NO_COLOR) process.env.FORCE_COLOR = "0";

const args = process.argv.slice(2);
const rootHelp = args.length === 0 || (args.length === 1 && (args[0] === "--help" || args[0] === "-h"));
if (rootHelp && !process.env.GM_NO_HELP_CACHE) {
  // The root help, rendered by oclif when the CLI was built (scripts/bundle.mjs).
  const help = readFileSync(new URL("../dist/bundle/help.txt", import.meta.url), "utf8");
  process.stdout.write(help.replace("{{runtime}}", `${process.platform}-${process.arch} node-${process.version}`));
} else {
  const { run } = await import("../dist/bundle/main.js");
  await run();
}
