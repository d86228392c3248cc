/** Clocks for measuring. Latencies are recorded in microseconds (floating point) everywhere. */
import { performance } from "node:perf_hooks";

/** Monotonic high-resolution clock, nanoseconds (process-local origin). */
export function nowNs(): bigint {
  return process.hrtime.bigint();
}

/**
 * Wall-clock time in milliseconds with sub-millisecond resolution, comparable
 * across processes on the same machine: `performance.timeOrigin` is the wall
 * clock at process start, `performance.now()` the monotonic time since then.
 * Use this (not hrtime) for send-timestamps read by another process.
 */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
