/**
 * What the group server's own code costs per durable SEND, without ZeroMQ: a real GroupServer on
 * a real SQLite store (in a temporary directory), its SEND handler called directly with decoded
 * requests in batches of N per turn of the event loop (as the receive loop hands them over), each
 * reply encoded as RpcServer encodes it. Prints the process's CPU per message (fdatasync per batch
 * included) beside the store alone (SqliteGroupStore.append, the same batches).
 *
 *   node --import tsx bench/experiments/handler-micro.ts [--messages 30000] [--batch 20] [--pairs 3]
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { v7 as uuidv7 } from "uuid";
import { GroupServer } from "../../src/group/group-server.js";
import { decodeRequest, encodeReply, encodeRequest } from "../../src/protocol/index.js";
import { SqliteGroupStore, sqliteStores } from "../../src/store/sqlite.js";
import { type FloorRow, openFloorStore } from "./floor-sqlite.js";

const { values } = parseArgs({
  options: {
    messages: { type: "string", default: "30000" },
    batch: { type: "string", default: "20" },
    pairs: { type: "string", default: "3" },
  },
});
const N = Number(values.messages);
const B = Number(values.batch);
const text = "x".repeat(100);
const user = "0191d7a2-0000-7000-8000-000000000001";

function cpuUs(): number {
  const c = process.cpuUsage();
  return c.user + c.system;
}

async function viaHandler(dir: string): Promise<number> {
  const server = await GroupServer.start({
    names: ["bench"],
    bind: "tcp://127.0.0.1:0",
    openStore: sqliteStores(dir),
  } as Parameters<typeof GroupServer.start>[0]);
  const handlers = (
    server as unknown as { rpc: unknown; handlers(): Record<string, (r: unknown) => unknown> }
  ).handlers();
  const envelope = [Buffer.from([0, 1, 2, 3, 4])];
  const frame = (command: string, body: unknown) => Buffer.from(encodeRequest(command, "r1", body)[0] as string);
  const req = (command: string, body: unknown) => {
    const d = decodeRequest([...envelope, frame(command, body)]);
    if (!d.ok) throw new Error("bad request");
    return d.request;
  };
  await handlers.JOIN?.(req("JOIN", { group: "bench", user, name: "bench" }));
  const start = cpuUs();
  for (let i = 0; i < N; i += B) {
    const batch: Promise<unknown>[] = [];
    for (let j = 0; j < B; j++) {
      const d = decodeRequest([...envelope, frame("SEND", { group: "bench", user, id: uuidv7(), text })]);
      if (!d.ok) throw new Error("bad request");
      const r = d.request;
      batch.push(Promise.resolve(handlers.SEND?.(r)).then((body) => encodeReply(r.envelope, r.id, body)));
    }
    await Promise.all(batch);
  }
  const used = cpuUs() - start;
  await server.close();
  return used / N;
}

async function viaStore(dir: string): Promise<number> {
  const store = SqliteGroupStore.open(dir, "bench");
  const start = cpuUs();
  for (let i = 0; i < N; i += B) {
    const batch: Promise<unknown>[] = [];
    for (let j = 0; j < B; j++) {
      // The request frame is built and decoded here too, so that both sides pay for the same.
      const d = decodeRequest([
        Buffer.from([0]),
        Buffer.from(encodeRequest("SEND", "r1", { group: "bench", user, id: uuidv7(), text })[0] as string),
      ]);
      if (!d.ok) throw new Error("bad request");
      batch.push(store.append({ id: String(d.request.body.id), user, name: "bench", text }));
    }
    await Promise.all(batch);
  }
  const used = cpuUs() - start;
  await store.close();
  return used / N;
}

/** The protocol floor's `sqlite` mode: the same rows inserted in one transaction per batch, then an fdatasync. */
async function viaFloor(dir: string): Promise<number> {
  const floor = await openFloorStore(dir, "bench");
  let seq = 0;
  const start = cpuUs();
  for (let i = 0; i < N; i += B) {
    const rows: FloorRow[] = [];
    for (let j = 0; j < B; j++) {
      const d = decodeRequest([
        Buffer.from([0]),
        Buffer.from(encodeRequest("SEND", "r1", { group: "bench", user, id: uuidv7(), text })[0] as string),
      ]);
      if (!d.ok) throw new Error("bad request");
      rows.push({ seq: ++seq, id: String(d.request.body.id), ts: Date.now(), user, text: String(d.request.body.text) });
    }
    await new Promise(setImmediate);
    floor.store(rows);
  }
  const used = cpuUs() - start;
  floor.close();
  return used / N;
}

for (let p = 0; p < Number(values.pairs); p++) {
  for (const [label, run] of [
    ["floor", viaFloor],
    ["store", viaStore],
    ["handler", viaHandler],
  ] as const) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gm-handler-micro-"));
    try {
      const us = await run(dir);
      console.log(`${label.padEnd(8)} ${us.toFixed(1)} us of CPU per message (batches of ${B}, ${N} messages)`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}
