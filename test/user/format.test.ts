/**
 * How messages are shown: the date whenever a message is not from today (local time), and the
 * JSON form with its ISO time.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { stripVTControlCharacters } from "node:util";
import type { StoredMessage } from "../../src/protocol/types.js";
import { formatMessage, formatTime, messageJson } from "../../src/user/format.js";

const at = (y: number, mo: number, d: number, h: number, mi: number, s: number) =>
  new Date(y, mo - 1, d, h, mi, s).getTime();
const message = (ts: number): StoredMessage => ({
  seq: 7,
  ts,
  id: "0193a000-0000-7000-8000-000000000007",
  user: "1a2b3c4d-0000-8000-8000-000000000001",
  name: "Ada",
  text: "hi",
});

describe("format", () => {
  const now = at(2026, 11, 25, 0, 30, 0);

  test("a message from today shows its time; from any other day, its date too", () => {
    assert.equal(formatTime(at(2026, 11, 25, 0, 0, 0), now), "00:00:00");
    assert.equal(formatTime(at(2026, 11, 25, 23, 59, 59), now), "23:59:59", "later today (a clock ahead)");
    assert.equal(formatTime(at(2026, 11, 24, 23, 59, 59), now), "2026-11-24 23:59:59", "a minute before midnight");
    assert.equal(formatTime(at(2025, 11, 25, 9, 5, 1), now), "2025-11-25 09:05:01", "the same day a year ago");
    assert.equal(formatTime(at(2026, 11, 26, 0, 0, 0), now), "2026-11-26 00:00:00", "tomorrow");
    const line = stripVTControlCharacters(formatMessage(message(at(2026, 11, 20, 8, 0, 0)), now));
    assert.match(line, /^\[2026-11-20 08:00:00\] Ada \(1a2b3c4d\): hi$/);
  });

  test("--json: the wire's object and its time in ISO-8601, null for a ts no date can hold", () => {
    const ts = Date.parse("2026-11-25T10:30:00.123Z");
    assert.deepEqual(messageJson(message(ts)), { ...message(ts), time: "2026-11-25T10:30:00.123Z" });
    assert.equal(messageJson(message(9_007_199_254_740_991)).time, null);
  });
});
