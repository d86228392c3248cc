/**
 * Beat: the callers of one timer run together. Each test waits for a caller to run, never for time
 * to pass. The clock that decides who is due is the test's: on a loaded machine the process can be
 * descheduled between two calls for longer than the margins of a real clock (a caller 5 ms late
 * missed its beat), while the real timer only decides when the beat fires.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Beat } from "../../src/user/beat.js";

/** A caller that records when it ran (in the order of `log`) and can be awaited. */
function caller(log: string[], name: string): { run: () => void; ran: Promise<void> } {
  let done = () => {};
  const ran = new Promise<void>((resolve) => {
    done = resolve;
  });
  return {
    run: () => {
      log.push(name);
      done();
    },
    ran,
  };
}

/** A clock that moves only when the test says so. */
function clock(): { now: () => number; set: (ms: number) => void } {
  let t = 0;
  return { now: () => t, set: (ms) => (t = ms) };
}

describe("Beat", () => {
  test("a caller due within half its wait of a beat runs with it; one due later waits", async () => {
    const time = clock();
    const beat = new Beat(time.now);
    const log: string[] = [];
    const a = caller(log, "a");
    const b = caller(log, "b");
    const c = caller(log, "c");
    beat.after(20, a.run);
    beat.after(30, b.run); // may run from 15 ms on: always by the time a's beat fires
    const cancelC = beat.after(60_000, c.run); // may run from 30 s on: not with a
    time.set(20);
    await a.ran;
    assert.deepEqual(log, ["a", "b"], "a and b ran on one beat");
    assert.equal(beat.size, 1, "c still waits");
    cancelC();
    assert.equal(beat.size, 0);
  });

  test("callers that came at different times are in step after one round", async () => {
    const time = clock();
    const beat = new Beat(time.now);
    const log: string[] = [];
    const first = caller(log, "first");
    beat.after(20, first.run);
    beat.after(36, () => log.push("second")); // runs early, with first
    time.set(20);
    await first.ran;
    // Both wait again for the same period from the same beat: one timer, both on it.
    const again = caller(log, "again-1");
    beat.after(20, again.run);
    beat.after(20, () => log.push("again-2"));
    time.set(40);
    await again.ran;
    assert.deepEqual(log, ["first", "second", "again-1", "again-2"]);
  });

  test("a cancelled caller never runs, and a later one still does", async () => {
    const time = clock();
    const beat = new Beat(time.now);
    const log: string[] = [];
    const cancel = beat.after(10, () => log.push("cancelled"));
    cancel();
    cancel(); // twice is harmless
    const late = caller(log, "late");
    beat.after(30, late.run);
    time.set(30);
    await late.ran;
    assert.deepEqual(log, ["late"]);
  });
});
