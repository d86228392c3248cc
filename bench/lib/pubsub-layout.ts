/**
 * Shared by the baseline pub/sub benchmark and (later) the gm fan-out
 * measurement, so both use the same process layout and message format.
 *
 * PROCESS LAYOUT
 * --------------
 * A "subscriber" is one SUB socket with its own TCP connection to the
 * publisher. Subscribers are spread over a bounded number of subscriber
 * *processes*, each holding `socketsPerProcess` SUB sockets (the last process
 * may hold fewer):
 *
 *     subscribers  processes  sockets per process
 *               1          1                    1
 *              10         10                    1
 *             100         10                   10
 *
 * i.e. one process per subscriber up to MAX_SUBSCRIBER_PROCESSES (10), beyond
 * that the sockets are divided evenly over 10 processes.
 *
 * Why: the machine has 2 cores. 100 separate node+tsx subscriber processes do
 * work (no loss), but cost ~80 MB RSS each (8 GB total), take ~27 s to start,
 * and the latency then measures the scheduler: 100 event loops, each woken
 * 1,000 times a second, queue for 2 CPUs. Measured with the baseline
 * (100 subscribers, 1,000 msg/s of 100 B, 3 s, 2 cores, loss 0 in every row):
 *
 *     processes x sockets   start-up   p50 latency   p99 latency
 *              100 x 1        27.1 s      10.9 ms       253 ms
 *               50 x 2        10.0 s       4.0 ms       164 ms
 *               20 x 5         4.0 s       2.1 ms        60 ms
 *               10 x 10        2.3 s       1.5 ms        14 ms
 *                5 x 20        1.3 s       1.0 ms       7.9 ms
 *
 * 10 x 10 keeps real inter-process delivery and many processes while the
 * numbers still say something about messaging. The publisher still sees 100
 * independent TCP peers (ZeroMQ fans out per connection). Pass a different
 * `maxProcesses` to `subscriberLayout()` / `pubsub()` to reproduce the table.
 *
 * Every SUB socket in a process runs its own `for await` receive loop;
 * latency is measured per socket per message.
 */

export const MAX_SUBSCRIBER_PROCESSES = 10;

/** Number of SUB sockets for each subscriber process, e.g. 100 -> [10 x 10]. */
export function subscriberLayout(subscribers: number, maxProcesses = MAX_SUBSCRIBER_PROCESSES): number[] {
  if (!Number.isInteger(subscribers) || subscribers < 1) throw new Error(`bad subscriber count ${subscribers}`);
  const processes = Math.min(subscribers, Math.max(1, maxProcesses));
  const base = Math.floor(subscribers / processes);
  const extra = subscribers % processes;
  return Array.from({ length: processes }, (_, i) => base + (i < extra ? 1 : 0));
}

// ---------------------------------------------------------------------------
// Message format: one frame of exactly MESSAGE_SIZE bytes
//   offset 0  uint8    kind (KIND_WARMUP | KIND_DATA)
//   offset 4  uint32LE sequence number (data messages count from 0)
//   offset 8  float64LE send time, ms, `performance.timeOrigin + performance.now()`
//   offset 16 padding (zero) up to MESSAGE_SIZE
// ---------------------------------------------------------------------------

export const MESSAGE_SIZE = 100;
export const KIND_WARMUP = 0x57; // 'W': sent until every subscriber is connected; not measured
export const KIND_DATA = 0x44; // 'D': measured

export function encodeMessage(kind: number, seq: number, sentMs: number): Buffer {
  const buf = Buffer.alloc(MESSAGE_SIZE);
  buf.writeUInt8(kind, 0);
  buf.writeUInt32LE(seq >>> 0, 4);
  buf.writeDoubleLE(sentMs, 8);
  return buf;
}

export interface DecodedMessage {
  kind: number;
  seq: number;
  sentMs: number;
}

export function decodeMessage(buf: Buffer): DecodedMessage | undefined {
  if (buf.length < 16) return undefined;
  return { kind: buf.readUInt8(0), seq: buf.readUInt32LE(4), sentMs: buf.readDoubleLE(8) };
}
