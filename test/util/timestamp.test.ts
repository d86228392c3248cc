import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { TimestampError } from "../../src/protocol/errors.js";
import { parseTimestamp, TIMESTAMP_FORMS } from "../../src/util/timestamp.js";

// A fixed zone that is neither UTC nor a whole-hour offset (and has no DST), so "local" and
// "UTC" readings cannot be confused. Each test file runs in its own process.
process.env.TZ = "Asia/Kolkata";

/** 2026-11-25 15:45:10.250 local time (UTC+05:30). */
const NOW = new Date(2026, 10, 25, 15, 45, 10, 250).getTime();

describe("parseTimestamp", () => {
  test("the fixed zone is in effect", () => {
    assert.equal(new Date(NOW).toISOString(), "2026-11-25T10:15:10.250Z");
  });

  test("epoch milliseconds", () => {
    assert.equal(parseTimestamp("0", NOW), 0);
    assert.equal(parseTimestamp("1764066600000", NOW), 1764066600000);
    assert.equal(parseTimestamp("  1764066600000 ", NOW), 1764066600000);
  });

  test("relative times back from now", () => {
    assert.equal(parseTimestamp("30s", NOW), NOW - 30_000);
    assert.equal(parseTimestamp("15m", NOW), NOW - 15 * 60_000);
    assert.equal(parseTimestamp("2h", NOW), NOW - 2 * 3_600_000);
    assert.equal(parseTimestamp("1d", NOW), NOW - 86_400_000);
    assert.equal(parseTimestamp("0s", NOW), NOW);
    assert.equal(parseTimestamp("2H", NOW), NOW - 2 * 3_600_000);
    assert.equal(parseTimestamp("10 m", NOW), NOW - 10 * 60_000);
  });

  test("the default `now` is the current time", () => {
    const before = Date.now();
    const t = parseTimestamp("1h");
    const after = Date.now();
    assert.ok(t >= before - 3_600_000 && t <= after - 3_600_000);
  });

  test("HH:MM and HH:MM:SS are today in local time", () => {
    assert.equal(parseTimestamp("10:30", NOW), new Date(2026, 10, 25, 10, 30, 0, 0).getTime());
    assert.equal(parseTimestamp("10:30", NOW), Date.UTC(2026, 10, 25, 5, 0, 0));
    assert.equal(parseTimestamp("09:05:07", NOW), new Date(2026, 10, 25, 9, 5, 7, 0).getTime());
    assert.equal(parseTimestamp("9:05", NOW), new Date(2026, 10, 25, 9, 5, 0, 0).getTime());
    assert.equal(parseTimestamp("00:00", NOW), new Date(2026, 10, 25, 0, 0, 0, 0).getTime());
    assert.equal(parseTimestamp("23:59:59", NOW), new Date(2026, 10, 25, 23, 59, 59, 0).getTime());
  });

  test("HH:MM out of range is refused", () => {
    for (const t of ["24:00", "10:60", "10:30:60", "99:99"]) {
      assert.throws(() => parseTimestamp(t, NOW), TimestampError);
    }
    assert.throws(() => parseTimestamp("24:00", NOW), /invalid time of day "24:00"; use HH:MM or HH:MM:SS/);
  });

  test("ISO-8601 with Z or an offset is absolute", () => {
    const utc = Date.UTC(2026, 10, 25, 10, 30, 0);
    assert.equal(parseTimestamp("2026-11-25T10:30:00Z", NOW), utc);
    assert.equal(parseTimestamp("2026-11-25T10:30:00z", NOW), utc);
    assert.equal(parseTimestamp("2026-11-25T10:30Z", NOW), utc);
    assert.equal(parseTimestamp("2026-11-25T10:30:00.500Z", NOW), utc + 500);
    assert.equal(parseTimestamp("2026-11-25T12:30:00+02:00", NOW), utc);
    assert.equal(parseTimestamp("2026-11-25T12:30:00+0200", NOW), utc);
    assert.equal(parseTimestamp("2026-11-25T05:30:00-05:00", NOW), utc);
    assert.equal(parseTimestamp("2026-11-25 10:30:00Z", NOW), utc);
  });

  test("ISO-8601 date-time without a zone is local time", () => {
    assert.equal(parseTimestamp("2026-11-25T10:30:00", NOW), new Date(2026, 10, 25, 10, 30).getTime());
    assert.equal(parseTimestamp("2026-11-25T10:30", NOW), new Date(2026, 10, 25, 10, 30).getTime());
    assert.equal(parseTimestamp("2026-11-25 10:30", NOW), new Date(2026, 10, 25, 10, 30).getTime());
  });

  test("an ISO date alone is local midnight, like a date-time without a zone", () => {
    assert.equal(parseTimestamp("2026-11-25", NOW), new Date(2026, 10, 25, 0, 0).getTime());
  });

  test("an impossible calendar date is refused", () => {
    assert.throws(() => parseTimestamp("2026-02-30T10:00:00Z", NOW), TimestampError);
    assert.throws(() => parseTimestamp("2026-02-30", NOW), TimestampError);
  });

  test("invalid inputs throw a TimestampError that lists the accepted forms", () => {
    const bad = [
      "",
      "   ",
      "yesterday",
      "10:30pm",
      "-5m",
      "1.5h",
      "5w",
      "10:3",
      "2026-13-45",
      "2026-11-25T25:00:00Z",
      "25/11/2026",
      "99999999999999999999",
    ];
    for (const input of bad) {
      assert.throws(
        () => parseTimestamp(input, NOW),
        (err: unknown) => {
          assert.ok(err instanceof TimestampError, `${input}: ${String(err)}`);
          assert.equal(err.name, "TimestampError");
          assert.ok(err.message.startsWith(`invalid timestamp "${input}"`), err.message);
          assert.ok(err.message.includes(TIMESTAMP_FORMS));
          for (const form of ["ISO-8601", "HH:MM", "30s", "15m", "2h", "1d", "epoch milliseconds"]) {
            assert.ok(err.message.includes(form), `the message should mention ${form}`);
          }
          return true;
        },
      );
    }
  });
});
