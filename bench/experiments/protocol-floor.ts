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
import Database from "better-sqlite3";
import { parse as uuidParse } from "uuid";
import * as zmq from "zeromq";
import { bindSocket } from "../../src/net/bind.js";
import { Outbox } from "../../src/net/outbox.js";
import type { Frame } from "../../src/protocol/codec.js";
import { decodeRequest, ErrorCode, encodeError, encodeReply, GmError } from "../../src/protocol/index.js";
import { SqliteGroupStore } from "../../src/store/sqlite.js";

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
if (mode !== "instant" && mode !== "sync" && mode !== "sqlite") {
  throw new Error(`FLOOR_MODE must be instant, sync or sqlite, not ${mode}`);
}
const dataDir = values["data-dir"];
if (mode !== "instant" && dataDir === undefined) throw new Error(`FLOOR_MODE=${mode} needs --data-dir`);

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
  // The real store creates the file (gm's schema and meta); then it is reopened as the store opens it.
  await SqliteGroupStore.open(dir, "floor").close();
  const file = path.join(dir, "floor.db");
  const db = new Database(file);
  db.pragma("locking_mode = EXCLUSIVE");
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  const insert = db.prepare("INSERT INTO messages (seq, id, ts, user, name, text) VALUES (?, ?, ?, ?, ?, ?)");
  const commit = db.transaction((batch: Pending[]) => {
    for (const p of batch) insert.run(p.seq, Buffer.from(uuidParse(p.id)), p.ts, p.user, "floor", p.text);
  });
  commit([]);
  const walFd = fs.openSync(`${file}-wal`, "r");
  return (batch) => {
    commit(batch);
    fs.fdatasyncSync(walFd);
  };
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
