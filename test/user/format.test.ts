import assert from "node:assert/strict";
import { describe, test } from "node:test";
import chalk from "chalk";
import { formatJoined, formatUnreadSummary } from "../../src/user/format.js";

chalk.level = 0;

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
