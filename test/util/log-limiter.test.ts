import assert from "node:assert/strict";
import { test } from "node:test";
import { LogLimiter } from "../../src/util/log-limiter.js";

/** Waits (polling, with a deadline) until `ok()` holds. */
async function until(ok: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

test("the first line of a kind at once, the rest as one summary per period with a count", async () => {
  const lines: string[] = [];
  const limiter = new LogLimiter((l) => lines.push(l), 50);
  try {
    for (let i = 0; i < 1000; i++) limiter.line("bad requests", `bad request ${i}`);
    limiter.line("other", "another kind goes through at once");
    const note = " (more like this within 0.05 s are summed up in one line)";
    assert.deepEqual(lines, [`bad request 0${note}`, `another kind goes through at once${note}`]);
    await until(() => lines.length === 3);
    assert.equal(lines[2], "999 more bad requests in the last minute (the last: bad request 999)");
    // A quiet period later, the next line is logged at once again.
    await until(() => !limiter.counting("bad requests"));
    limiter.line("bad requests", "after a pause");
    assert.equal(lines.at(-1), `after a pause${note}`);
  } finally {
    limiter.stop();
  }
});

test("a custom summary, and stop() drops what was not reported", () => {
  const lines: string[] = [];
  const limiter = new LogLimiter((l) => lines.push(l), 60_000);
  limiter.line("refusals", "refused a", (n, last) => `refused ${n} more (last: ${last})`);
  limiter.line("refusals", "refused b");
  limiter.stop();
  assert.deepEqual(lines, ["refused a (more like this within a minute are summed up in one line)"]);
});

test("a line that stands for several events counts as that many", async () => {
  const lines: string[] = [];
  const limiter = new LogLimiter((l) => lines.push(l), 50);
  try {
    limiter.line("closed", "closed 7 peers", undefined, 7);
    limiter.line("closed", "closed 5 peers", undefined, 5);
    limiter.line("closed", "closed a peer");
    await until(() => lines.length === 2);
    // The first line tells of its 7 itself; the 6 after it are summed up.
    assert.equal(lines[1], "6 more closed in the last minute (the last: closed a peer)");
  } finally {
    limiter.stop();
  }
});
