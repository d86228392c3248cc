#!/usr/bin/env node
// NO_COLOR (https://no-color.org) turns colour off; chalk reads FORCE_COLOR=0 as "no colour".
if (process.env.NO_COLOR) process.env.FORCE_COLOR = "0";

const { run } = await import("../dist/bundle/main.js");
await run();
