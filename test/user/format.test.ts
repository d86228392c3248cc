/**
 * How messages are shown: the date whenever a message is not from today (local time), and the
 * JSON form with its ISO time.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { stripVTControlCharacters } from "node:util";
import chalk from "chalk";
import type { StoredMessage } from "../../src/protocol/types.js";
import { formatJoined, formatMessage, formatTime, formatUnreadSummary, messageJson } from "../../src/user/format.js";

chalk.level = 0;

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

describe("unread counts as the user sees them", () => {
  test("the shell's summary names groups with something unread, then those that did not answer", () => {
    assert.equal(
      formatUnreadSummary([
        { group: "general", unread: 3 },
        { group: "quiet", unread: 0 },
        { group: "random", unread: 12 },
      ]),
      "unread: general 3, random 12",
    );
    assert.equal(formatUnreadSummary([{ group: "quiet", unread: 0 }]), "no unread messages");
    assert.equal(
      formatUnreadSummary([
        { group: "general", unread: 1 },
        { group: "dev", unread: undefined },
      ]),
      "unread: general 1; no answer from dev",
    );
    assert.equal(
      formatUnreadSummary([{ group: "evil\u001b[2J", unread: 1 }]),
      "unread: evil\\x1b[2J 1",
      "a group name from the network cannot act on the terminal",
    );
  });

  test("groups gets an UNREAD column, ? where the server did not answer", () => {
    const groups = [
      { name: "general", address: "tcp://127.0.0.1:1", joined: 1_800_000_000_000 },
      { name: "dev", address: "tcp://127.0.0.1:2", joined: 1_800_000_000_000 },
    ];
    const lines = formatJoined(
      groups,
      new Map([
        ["general", 4],
        ["dev", undefined],
      ]),
    );
    assert.match(lines[0] ?? "", /^GROUP\s+UNREAD\s+JOINED\s+ADDRESS$/);
    assert.match(lines[1] ?? "", /^general\s+4\s+\S+ \S+\s+tcp:\/\/127\.0\.0\.1:1$/);
    assert.match(lines[2] ?? "", /^dev\s+\?\s+/);
    assert.doesNotMatch(formatJoined(groups)[0] ?? "", /UNREAD/, "without counts, as show_groups prints it");
  });
});
