import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ErrorCode, Status } from "../../src/protocol/constants.js";
import {
  ClosedError,
  EndpointError,
  GmError,
  isWireCode,
  LocalErrorCode,
  LockError,
  NotServedError,
  ProfileError,
  QuoteError,
  RemoteError,
  StoreError,
  TimeoutError,
  TimestampError,
  UsageError,
} from "../../src/protocol/errors.js";
import { messageText } from "../../src/protocol/validate.js";

const cause = new Error("underneath");

describe("the error classes", () => {
  const cases: Array<[GmError, string, string]> = [
    [new GmError(ErrorCode.NotMember, "m", Status.BadRequest, { cause }), "GmError", ErrorCode.NotMember],
    [new RemoteError(ErrorCode.NameTaken, "m", Status.BadRequest, "tcp://h:1", { cause }), "RemoteError", "NAME_TAKEN"],
    [new TimeoutError("tcp://h:1", 3, 7500, { cause }), "TimeoutError", LocalErrorCode.Timeout],
    [new ClosedError("tcp://h:1", "m", { cause }), "ClosedError", LocalErrorCode.Closed],
    [new UsageError("m", { cause }), "UsageError", LocalErrorCode.Usage],
    [new EndpointError("m", { cause }), "EndpointError", LocalErrorCode.BadEndpoint],
    [new TimestampError("m", { cause }), "TimestampError", LocalErrorCode.BadTimestamp],
    [new QuoteError("m", { cause }), "QuoteError", LocalErrorCode.BadQuote],
    [new ProfileError("/p.json", "m", { cause }), "ProfileError", LocalErrorCode.Profile],
    [new StoreError("m", { cause }), "StoreError", LocalErrorCode.Store],
    [new LockError("/p.json.lock", "m", { cause }), "LockError", LocalErrorCode.Lock],
    [new NotServedError("general", "tcp://h:1", "m", { cause }), "NotServedError", LocalErrorCode.NotServed],
  ];
  for (const [err, name, code] of cases) {
    test(`${name}: its own name, a code and the cause`, () => {
      assert.ok(err instanceof GmError);
      assert.equal(err.name, name);
      assert.equal(err.code, code);
      assert.equal(err.cause, cause);
    });
  }

  test("a timeout names the endpoint, the tries and the wait, and says a retry may help", () => {
    const err = new TimeoutError("tcp://h:1", 3, 7500);
    assert.match(err.message, /no reply from tcp:\/\/h:1 after 3 tries \(7\.5 s\)/);
    assert.equal(err.status, Status.TryAgain);
  });

  test("only the protocol's codes are wire codes", () => {
    for (const code of Object.values(ErrorCode)) assert.ok(isWireCode(code), code);
    for (const code of Object.values(LocalErrorCode)) assert.ok(!isWireCode(code), code);
  });

  test("UsageError.check turns a protocol check's failure into bad usage, keeping code and message", () => {
    assert.equal(
      UsageError.check(() => messageText({ text: "hi" })),
      "hi",
    );
    assert.throws(
      () => UsageError.check(() => messageText({ text: " " })),
      (err: unknown) =>
        err instanceof UsageError &&
        err.code === ErrorCode.EmptyMessage &&
        err.message === "the message is empty" &&
        err.cause instanceof GmError,
    );
    const other = new Error("not a check");
    assert.throws(
      () =>
        UsageError.check(() => {
          throw other;
        }),
      (err) => err === other,
    );
  });
});
