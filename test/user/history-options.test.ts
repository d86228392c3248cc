/**
 * The options that choose messages (`messages`, `search`, the shell's `get_messages` and `search`):
 * `--before` as a message number or a time, every bound narrowing, the shell's words, and the
 * line that pages back.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { UsageError } from "../../src/protocol/errors.js";
import {
  historyOptions,
  olderArgs,
  olderLine,
  parseBefore,
  parseShellOptions,
  shellHistory,
} from "../../src/user/history-options.js";
import { splitWords } from "../../src/user/words.js";

const NOW = Date.parse("2026-11-25T12:00:00Z");

describe("history options", () => {
  test("--before is #N for a message number, anything else a time; a plain number is epoch ms", () => {
    assert.deepEqual(parseBefore("#1234"), { before: 1234 });
    assert.deepEqual(parseBefore(" #1 "), { before: 1 });
    assert.deepEqual(parseBefore("1234"), { until: 1234 });
    assert.deepEqual(parseBefore("2026-11-25T10:00:00Z"), { until: Date.parse("2026-11-25T10:00:00Z") });
    assert.deepEqual(parseBefore("15m", NOW), { until: NOW - 15 * 60_000 });
    for (const bad of ["#", "#0", "#-1", "#1.5", "#12a", "# 12", "#9999999999999999", "yesterday"]) {
      assert.throws(() => parseBefore(bad), UsageError, bad);
    }
    assert.throws(() => parseBefore("#x"), { message: /invalid --before "#x": a message number is # and digits/ });
    assert.throws(() => parseBefore("soon"), { message: /invalid --before "soon": give a message number written #N/ });
  });

  test("every bound narrows: --before a time and --until count the earlier", () => {
    assert.deepEqual(historyOptions({}), {});
    assert.deepEqual(historyOptions({ since: "1000", until: "5000", limit: 3 }), {
      since: 1000,
      until: 5000,
      limit: 3,
    });
    assert.deepEqual(historyOptions({ until: "5000", before: "4000" }), { until: 4000 });
    assert.deepEqual(historyOptions({ until: "3000", before: "4000" }), { until: 3000 });
    assert.deepEqual(historyOptions({ until: "3000", before: "#7" }), { until: 3000, before: 7 });
    assert.deepEqual(historyOptions({ since: "1h" }, NOW), { since: NOW - 3_600_000 });
    assert.throws(() => historyOptions({ limit: 0 }), UsageError);
    assert.throws(() => historyOptions({ since: "later" }), { name: "TimestampError" });
  });

  test("the page back keeps the lower time bound exactly and the limit, below the oldest shown", () => {
    assert.deepEqual(olderArgs({ limit: 20 }, 41), ["--limit", "20", "--before", "#41"]);
    assert.deepEqual(olderArgs({ since: Date.parse("2026-11-25T11:45:00.250Z"), until: 9e12, before: 50 }, 41), [
      "--since",
      "2026-11-25T11:45:00.250Z",
      "--before",
      "#41",
    ]);
    assert.equal(
      olderLine("get_messages", "general", [], { limit: 2 }, 6),
      "older messages: get_messages general --limit 2 --before #6",
    );
    const line = olderLine("search", "general", ["it's", "a b", "-x"], {}, 9);
    assert.equal(line, `older matches: search general --before #9 -- 'it'"'"'s' 'a b' -x`);
    assert.deepEqual(splitWords(line.replace(/^older matches: /, "")), [
      "search",
      "general",
      "--before",
      "#9",
      "--",
      "it's",
      "a b",
      "-x",
    ]);
  });

  test("the shell's words: options anywhere, short forms, `--name=value`, and `--` before words with a dash", () => {
    assert.deepEqual(parseShellOptions(["general", "--limit", "5", "10:30"]), {
      positionals: ["general", "10:30"],
      args: { since: undefined, until: undefined, before: undefined, limit: 5 },
    });
    assert.deepEqual(parseShellOptions(["-n", "2", "g", "--before=#4", "-s", "1h"]).args, {
      since: "1h",
      until: undefined,
      before: "#4",
      limit: 2,
    });
    assert.deepEqual(parseShellOptions(["g", "--", "-rf", "--limit"]).positionals, ["g", "-rf", "--limit"]);
    assert.throws(() => parseShellOptions(["g", "--bogus"]), {
      name: "UsageError",
      message: "Unknown option '--bogus'",
    });
    assert.throws(() => parseShellOptions(["g", "--limit"]), {
      name: "UsageError",
      message: /--limit <value>' argument missing/,
    });
    for (const bad of ["0", "-1", "2.5", "ten"]) {
      assert.throws(() => parseShellOptions(["g", `--limit=${bad}`]), {
        name: "UsageError",
        message: /invalid --limit/,
      });
    }
  });

  test("get_messages <group> [<timestamp>] as ever, the timestamp meaning --since; search needs a word", () => {
    assert.deepEqual(shellHistory(["general"], "get_messages"), { group: "general", rest: [], options: {} });
    assert.deepEqual(shellHistory(["general", "1000"], "get_messages").options, { since: 1000 });
    assert.deepEqual(shellHistory(["general", "--since", "1000", "--limit", "3"], "get_messages").options, {
      since: 1000,
      limit: 3,
    });
    assert.throws(() => shellHistory(["general", "1000", "2000"], "get_messages"), /takes one <timestamp>; got 2/);
    assert.throws(() => shellHistory(["general", "1000", "--since", "2000"], "get_messages"), /give the time once/);
    assert.throws(() => shellHistory(["--limit", "3"], "get_messages"), /usage: get_messages <group_name>/);
    assert.deepEqual(shellHistory(["general", "lunch", "today", "--before", "#9"], "search"), {
      group: "general",
      rest: ["lunch", "today"],
      options: { before: 9 },
    });
    assert.throws(() => shellHistory(["general", "--limit", "3"], "search"), /usage: search <group_name> <word>/);
  });
});
