#!/usr/bin/env node
import { execute } from "@oclif/core";

// NO_COLOR (https://no-color.org) turns colour off; chalk reads FORCE_COLOR=0 as "no colour".
if (process.env.NO_COLOR) process.env.FORCE_COLOR = "0";

await execute({ dir: import.meta.url });
