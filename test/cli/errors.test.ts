import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Exit, exitCode } from "../../src/cli/errors.js";
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
