import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { recoveryCommands, shellWord } from "../../src/cli/flags.js";

describe("recovery command lines", () => {
  test("plain words stay as they are; others are quoted for a POSIX shell", () => {
    assert.equal(shellWord("tcp://127.0.0.1:6001"), "tcp://127.0.0.1:6001");
    assert.equal(shellWord("/home/a b/data"), "'/home/a b/data'");
    assert.equal(shellWord("it's"), "'it'\\''s'");
    assert.equal(shellWord(""), "''");
  });

  test("the refused command again with --accept-loss, and --check for the group and data dir", () => {
    const lines = recoveryCommands("gm", ["group"], ["--name", "general", "-d", "/d ir"], "/d ir")("general");
    assert.equal(lines.acceptLoss, "gm group --name general -d '/d ir' --accept-loss");
    assert.equal(lines.check, "gm group --check --name general --data-dir '/d ir'");
  });
});
