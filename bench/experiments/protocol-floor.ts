/**
 * The floor of gm's design for the send workloads: a server that speaks just enough GM/2 for the
 * bench clients (JOIN and SEND, through gm's own codec and outbox) and does the least a server of
 * that kind can do, without gm's group server or store. It answers JOIN at once and SEND by mode
 * (FLOOR_MODE):
 *
 *   instant   at once: the protocol alone (decode, JSON, reply), nothing stored
 *   sync      per turn of the event loop, the batch's request frames written to a 4 MB file (round
 *             and round) and fdatasync'ed on the loop, then the replies: the durable echo, in GM/2
 *   sqlite    per turn of the event loop, the batch inserted into gm's `messages` table (a file the
 *             real store created) in one transaction (WAL, synchronous=NORMAL, exclusive lock, as
 *             the store opens it), the WAL fdatasync'ed on the loop, then the replies
 *
 *   rpc           as instant, but through gm's RpcServer (its socket options, dispatch, outbox with
 *                 the reply budget) with handlers that answer at once
 *   rpc-batch     RpcServer, SEND answered by a promise resolved per turn of the event loop (as the
 *                 store's group commit resolves it), nothing stored
 *   rpc-sqlite    RpcServer, SEND stored as in sqlite (one transaction and an fdatasync per batch),
 *                 answered by a promise resolved once its batch is durable
 *
 * The rpc modes tell where gm's cost between the socket and its handler goes: rpc - instant is
 * RpcServer itself, rpc-batch - rpc the promise and batching, gm group - rpc-sqlite the group
 * server and its store.
 *
 * The bench runs it in place of `gm group` (same arguments, same ready line):
 *
 *   FLOOR_MODE=sqlite npm run bench -- --only send32,latency \
 *     --group-node-args="--import tsx" --group-script bench/experiments/protocol-floor.ts
 *
 * Files go in --data-dir (the bench makes and removes it). SIGTERM or SIGINT closes the socket and
 * ends the process. Experiments only: no validation beyond the codec's, no duplicates, no members.
 */
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import * as zmq from "zeromq";
import { bindSocket } from "../../src/net/bind.js";
import { Outbox } from "../../src/net/outbox.js";
import { RpcServer } from "../../src/net/rpc-server.js";
import type { Frame } from "../../src/protocol/codec.js";
import { decodeRequest, ErrorCode, encodeError, encodeReply, GmError } from "../../src/protocol/index.js";
import { openFloorStore } from "./floor-sqlite.js";

const { values } = parseArgs({
  options: {
    name: { type: "string", default: "floor" },
    address: { type: "string", default: "127.0.0.1:0" },
    "data-dir": { type: "string" },
    quiet: { type: "boolean" },
    server: { type: "string" },
    // The bench starts group servers with --insecure; this floor is plain text anyway.
    insecure: { type: "boolean" },
  },
});
const mode = process.env.FLOOR_MODE ?? "instant";
const MODES = ["instant", "sync", "sqlite", "rpc", "rpc-batch", "rpc-sqlite"];
if (!MODES.includes(mode)) throw new Error(`FLOOR_MODE must be one of ${MODES.join(", ")}, not ${mode}`);
const dataDir = values["data-dir"];
const EMPTY_FRAME = Buffer.alloc(0);
if (mode !== "instant" && mode !== "rpc" && mode !== "rpc-batch" && dataDir === undefined)
  throw new Error(`FLOOR_MODE=${mode} needs --data-dir`);

interface Pending {
  reply: Frame[];
  frame: Buffer;
  seq: number;
  ts: number;
  id: string;
  user: string;
  text: string;
}

/** Makes one batch durable (by mode) before its replies go out. */
async function makeSyncer(): Promise<(batch: Pending[]) => void> {
  const dir = dataDir as string;
  fs.mkdirSync(dir, { recursive: true });
  if (mode === "sync") {
    const ring = 4 * 1024 * 1024;
    const fd = fs.openSync(path.join(dir, "log"), "w+");
    fs.writeSync(fd, Buffer.alloc(ring));
    fs.fsyncSync(fd);
    let offset = 0;
    return (batch) => {
      const data = Buffer.concat(batch.map((p) => p.frame));
      if (offset + data.length > ring) offset = 0;
      fs.writeSync(fd, data, 0, data.length, offset);
      offset += data.length;
      fs.fdatasyncSync(fd);
    };
  }
  const floor = await openFloorStore(dir, "floor");
  return (batch) => floor.store(batch);
}

if (mode.startsWith("rpc")) {
  await serveThroughRpcServer();
  process.exit(0);
}

/** The rpc modes: gm's RpcServer with JOIN and SEND handlers of the floor's kind. */
async function serveThroughRpcServer(): Promise<void> {
  const store = mode === "rpc-sqlite" ? await makeSyncer() : undefined;
  let seq = 0;
  let waiting: Array<{ resolve: (v: unknown) => void; body: Pending }> = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    const batch = waiting;
    waiting = [];
    store?.(batch.map((w) => w.body));
    for (const w of batch) w.resolve({ seq: w.body.seq, ts: w.body.ts, duplicate: false });
  };
  const server = new RpcServer({
    handlers: {
      JOIN: () => ({ group: values.name, members: 1, joined: true }),
      SEND: (r) => {
        const ts = Date.now();
        seq++;
        if (mode === "rpc") return { seq, ts, duplicate: false };
        const body: Pending = {
          reply: [],
          frame: EMPTY_FRAME,
          seq,
          ts,
          id: String(r.body.id),
          user: String(r.body.user),
          text: String(r.body.text),
        };
        return new Promise((resolve) => {
          waiting.push({ resolve, body });
          if (!scheduled) {
            scheduled = true;
            setImmediate(flush);
          }
        });
      },
    },
  });
  const endpoint = await server.listen(`tcp://${values.address}`);
  process.stdout.write(`gm group: serving ${values.name} (protocol floor, ${mode}) on ${endpoint}\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  await server.close(0);
}

const sock = new zmq.Router({ linger: 0, sendTimeout: 0, sendHighWaterMark: 1000, receiveHighWaterMark: 10_000 });
const outbox = new Outbox(sock, (err) => process.stderr.write(`send failed: ${String(err)}\n`));
const syncBatch = mode === "instant" ? undefined : await makeSyncer();
let pending: Pending[] = [];
let scheduled = false;
let seq = 0;

const flush = (): void => {
  scheduled = false;
  const batch = pending;
  pending = [];
  syncBatch?.(batch);
  for (const p of batch) outbox.push(p.reply);
};

const endpoint = await bindSocket(sock, `tcp://${values.address}`);
process.stdout.write(`gm group: serving ${values.name} (protocol floor, ${mode}) on ${endpoint}\n`);
const stop = () => sock.close();
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

try {
  for await (const frames of sock) {
    const decoded = decodeRequest(frames);
    if (!decoded.ok) {
      outbox.push(encodeError(decoded.envelope, decoded.id, decoded.error));
      continue;
    }
    const { envelope, id, command, body } = decoded.request;
    if (command === "JOIN") {
      outbox.push(encodeReply(envelope, id, { group: values.name, members: 1, joined: true }));
    } else if (command === "SEND") {
      const ts = Date.now();
      const reply = encodeReply(envelope, id, { seq: ++seq, ts, duplicate: false });
      if (syncBatch === undefined) {
        outbox.push(reply);
        continue;
      }
      const frame = frames[frames.length - 1] as Buffer;
      pending.push({ reply, frame, seq, ts, id: String(body.id), user: String(body.user), text: String(body.text) });
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    } else {
      outbox.push(
        encodeError(envelope, id, new GmError(ErrorCode.UnknownCommand, "the protocol floor serves JOIN and SEND")),
      );
    }
  }
} catch (err) {
  if (!sock.closed) throw err;
}
