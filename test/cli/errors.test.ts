import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { commandIdOf, describeFailure, Exit, exitCode, remedyCommand, wantsJson } from "../../src/cli/errors.js";
import { ErrorCode, Status } from "../../src/protocol/constants.js";
import {
  ClosedError,
  EndpointError,
  GmError,
  ProfileError,
  QuoteError,
  RemoteError,
  StoreError,
  TimeoutError,
  TimestampError,
  UsageError,
} from "../../src/protocol/errors.js";
import { withHint } from "../../src/user/hints.js";

describe("exit codes by class", () => {
  test("a timeout is 3, bad usage 2, anything else 1", () => {
    assert.equal(exitCode(new TimeoutError("tcp://h:1", 1, 100)), Exit.Unreachable);
    for (const err of [new UsageError("m"), new EndpointError("m"), new TimestampError("m"), new QuoteError("m")]) {
      assert.equal(exitCode(err), Exit.Usage, err.name);
    }
    for (const err of [
      new RemoteError(ErrorCode.EmptyMessage, "m", Status.BadRequest, "tcp://h:1"),
      new GmError(ErrorCode.UnknownGroup, "m"),
      new StoreError("m"),
      new ProfileError("/p.json", "m"),
      new ClosedError("tcp://h:1", "m"),
      new Error("m"),
      "a string",
    ]) {
      assert.equal(exitCode(err), Exit.Failed, String(err));
    }
  });

  test("a class is what counts, not a name that looks like one", () => {
    const fake = Object.assign(new Error("m"), { name: "TimeoutError" });
    assert.equal(exitCode(fake), Exit.Failed);
  });
});

describe("what a failure is reported with", () => {
  test("--json counts only before --, where the words of a message start", () => {
    assert.equal(wantsJson(["user", "send", "g", "hi", "--json"]), true);
    assert.equal(wantsJson(["user", "send", "g", "--", "--json"]), false);
    assert.equal(wantsJson(["user", "send", "g", "--jsonx"]), false);
  });

  test("the command is the longest run of first words that is one, as oclif finds it", () => {
    const ids = ["group", "user:send", "user:join"];
    assert.equal(commandIdOf(["user", "send", "general", "hi", "--bogus"], ids), "user:send");
    assert.equal(commandIdOf(["group", "127.0.0.1:6001"], ids), "group");
    assert.equal(commandIdOf(["user", "--json"], ids), undefined);
  });

  test("a hint's command carries the user's own flags, quoted for a shell where needed", () => {
    const err = withHint(new GmError(ErrorCode.NotMember, 'you have not joined "general"'), {
      advice: "join it first",
      remedy: { action: "join", group: "general" },
    });
    assert.deepEqual(describeFailure(err, { userFlags: ["--profile", "bob", "--server", "host:1"] }), {
      code: "NOT_MEMBER",
      message: 'you have not joined "general"',
      exit: Exit.Failed,
      hint: "join it first: gm user join general --profile bob --server host:1",
    });
    assert.equal(
      remedyCommand({ action: "messages", group: "g" }, { userFlags: ["--server", "a b:1"] }),
      "gm user messages g --server 'a b:1'",
    );
  });

  test("oclif's usage errors lose its 'See more help' line for a hint that names the command", () => {
    const parse = Object.assign(new Error("Nonexistent flag: --x\nSee more help with --help"), { oclif: { exit: 2 } });
    assert.deepEqual(describeFailure(parse, {}, "user:groups"), {
      code: "USAGE",
      message: "Nonexistent flag: --x",
      exit: Exit.Usage,
      hint: "see gm user groups --help",
    });
  });
});
