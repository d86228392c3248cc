/**
 * Fills a group's SQLite file directly (support/fill-store.ts), much faster than sending the
 * messages through gm: the file must already exist with gm's schema and meta rows (start and stop
 * `gm group` on it once). Texts of exactly 100 bytes.
 *
 *   --db FILE --messages N --members M [--group NAME]
 *
 * Child protocol: ready -> {}, start <-, result -> { messages, members, elapsedMs }.
 */
import { parseArgs } from "node:util";
import { fillStore } from "../../support/fill-store.js";
import { progress } from "../lib/output.js";
import { runWorker, waitForStart, workerReady, workerResult } from "../lib/worker.js";
import { padText } from "./wire.js";

const { values } = parseArgs({
  options: {
    db: { type: "string" },
    messages: { type: "string", default: "0" },
    members: { type: "string", default: "0" },
    group: { type: "string" },
  },
});

export interface PrefillResult {
  messages: number;
  members: number;
  elapsedMs: number;
}

runWorker(async () => {
  const file = values.db;
  if (file === undefined) throw new Error("--db is required");
  const messages = Number.parseInt(values.messages, 10);
  const members = Math.max(1, Number.parseInt(values.members, 10));
  await workerReady({});
  await waitForStart();
  const t0 = Date.now();
  fillStore(file, {
    messages,
    members,
    ...(values.group !== undefined && { group: values.group }),
    text: (seq, name) => padText(`message ${seq} from ${name}: `),
    progress: (done) => progress(`prefill: ${done} messages`),
  });
  const elapsedMs = Date.now() - t0;
  progress(`prefill: ${messages} messages, ${members} members in ${elapsedMs} ms`);
  const result: PrefillResult = { messages, members, elapsedMs };
  await workerResult(result);
});
