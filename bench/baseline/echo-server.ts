/**
 * Baseline echo server: a ROUTER bound to tcp://127.0.0.1:* that sends every
 * message it receives straight back to its sender (all frames, unchanged).
 *
 *   --durable   the smallest durable echo: every message that arrives in one turn of the event
 *               loop is written (its last frame) to a file in one write and fdatasync'ed, and only
 *               then echoed (group commit, the sync on the event loop). The file is 4 MB, written
 *               round and round (overwriting, as a SQLite WAL in steady state), in a fresh
 *               temporary directory removed at exit. What any durable server pays on this machine.
 *
 *   --curve     a CURVE server with a fresh keypair (bench/lib/curve.ts); clients need its key
 *
 * Child protocol (see bench/lib/worker.ts):
 *   ready  -> { endpoint, serverKey? }   the real endpoint, from `lastEndpoint`; with --curve, the
 *                                        server's public key
 *   stop   <-                close the socket, which ends the receive loop
 *   result -> { echoed, syncs }   messages echoed, fdatasyncs done
 *
 * Never more than one pending send on the socket.
 *
 * Run by hand: node --import tsx bench/baseline/echo-server.ts [--durable] [--curve]
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import * as zmq from "zeromq";
import { curveServer } from "../lib/curve.js";
import { progress } from "../lib/output.js";
import { runWorker, waitForStop, workerReady, workerResult } from "../lib/worker.js";

const { values } = parseArgs({
  options: { durable: { type: "boolean", default: false }, curve: { type: "boolean", default: false } },
});
const RING = 4 * 1024 * 1024;

runWorker(async () => {
  const curve = values.curve ? curveServer() : undefined;
  const sock = new zmq.Router({ linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0, ...curve?.options });
  await sock.bind("tcp://127.0.0.1:*");
  const endpoint = sock.lastEndpoint;
  if (endpoint === null) throw new Error("no endpoint after bind");

  let echoed = 0;
  let syncs = 0;
  let loop: Promise<void>;
  let cleanup = (): void => {};
  if (!values.durable) {
    loop = (async () => {
      try {
        for await (const frames of sock) {
          await sock.send(frames);
          echoed++;
        }
      } catch (err) {
        // Closing the socket while a send is pending rejects it; that is the normal way out.
        if (!sock.closed) throw err;
      }
    })();
  } else {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gm-bench-durable-echo-"));
    // Removed when the run ends, and however this process ends (the parent stops workers with
    // SIGTERM): only SIGKILL, after the parent's grace period, can skip it.
    cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
    process.on("exit", cleanup);
    process.on("SIGTERM", () => process.exit(143));
    const fd = fs.openSync(path.join(dir, "log"), "w+");
    fs.writeSync(fd, Buffer.alloc(RING));
    fs.fsyncSync(fd);
    let offset = 0;
    let pending: Buffer[][] = [];
    let flushing: Promise<void> | undefined;
    const flush = async (): Promise<void> => {
      while (pending.length > 0) {
        const batch = pending;
        pending = [];
        const data = Buffer.concat(batch.map((f) => f[f.length - 1] as Buffer));
        if (offset + data.length > RING) offset = 0;
        fs.writeSync(fd, data, 0, data.length, offset);
        offset += data.length;
        fs.fdatasyncSync(fd);
        syncs++;
        for (const frames of batch) {
          await sock.send(frames);
          echoed++;
        }
      }
      flushing = undefined;
    };
    loop = (async () => {
      try {
        for await (const frames of sock) {
          pending.push(frames);
          if (flushing === undefined) {
            flushing = new Promise<void>((resolve) => setImmediate(resolve)).then(flush);
          }
        }
      } catch (err) {
        if (!sock.closed) throw err;
      }
      await flushing?.catch(() => {});
    })();
  }

  void waitForStop().then(() => sock.close());
  await workerReady({ endpoint, ...(curve && { serverKey: curve.serverKey }) });
  progress(`echo-server: listening on ${endpoint}${values.durable ? " (durable)" : ""}${curve ? " (CURVE)" : ""}`);
  await loop;
  cleanup();
  await workerResult({ echoed, syncs });
});
