import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  decodeEvent,
  decodeReply,
  decodeRequest,
  encodeError,
  encodeEvent,
  encodeReply,
  encodeRequest,
} from "../../src/protocol/codec.js";
import { ErrorCode, Limits, SIGNATURE, Status } from "../../src/protocol/constants.js";
import { GmError } from "../../src/protocol/errors.js";

const b = (s: string) => Buffer.from(s);
const EMPTY = Buffer.alloc(0);
const RID = Buffer.from([0, 1, 2, 3, 4]);
const SIG = b(SIGNATURE);

/** A request as a ROUTER receives it from a DEALER: routing id, then the payload. */
const dealer = (...payload: Buffer[]) => [RID, ...payload];
/** A request as a ROUTER receives it from a REQ socket: routing id, empty delimiter, payload. */
const req = (...payload: Buffer[]) => [RID, EMPTY, ...payload];

function expectError(frames: Buffer[], code: string, message?: RegExp) {
  const d = decodeRequest(frames);
  assert.equal(d.ok, false, "the request should be rejected");
  if (d.ok) return assert.fail();
  assert.equal(d.error.code, code);
  assert.equal(d.error.status, Status.BadRequest);
  if (message !== undefined) assert.match(d.error.message, message);
  return d;
}

describe("decodeRequest: well-formed", () => {
  test("a DEALER-style request (no delimiter)", () => {
    const d = decodeRequest(dealer(SIG, b("PING"), b("r1"), b('{"a":1,"s":"é"}')));
    assert.ok(d.ok);
    assert.deepEqual(d.request.envelope, [RID]);
    assert.equal(d.request.command, "PING");
    assert.deepEqual(d.request.id, b("r1"));
    assert.deepEqual(d.request.body, { a: 1, s: "é" });
  });

  test("a REQ-style request keeps the empty delimiter in the envelope", () => {
    const d = decodeRequest(req(SIG, b("LIST"), b("7"), b("{}")));
    assert.ok(d.ok);
    assert.equal(d.request.envelope.length, 2);
    assert.deepEqual(d.request.envelope[0], RID);
    assert.equal(d.request.envelope[1]?.length, 0);
    assert.equal(d.request.command, "LIST");
    assert.deepEqual(d.request.body, {});
  });

  test("an empty body frame is an empty object", () => {
    const d = decodeRequest(dealer(SIG, b("PING"), b("x"), EMPTY));
    assert.ok(d.ok);
    assert.deepEqual(d.request.body, {});
  });

  test("limits are inclusive: 64-byte id, 32-byte command, body of exactly Limits.bodyBytes", () => {
    const body = Buffer.from(JSON.stringify({ pad: "x".repeat(Limits.bodyBytes - 10) }));
    assert.equal(body.length, Limits.bodyBytes);
    const d = decodeRequest(dealer(SIG, b("C".repeat(32)), b("i".repeat(64)), body));
    assert.ok(d.ok, d.ok ? "" : d.error.message);
    assert.equal(d.request.command.length, 32);
    assert.equal(d.request.id.length, 64);
  });

  test("encodeRequest round-trips through decodeRequest", () => {
    const d = decodeRequest([RID, ...encodeRequest("SEND", "abc", { text: "hi ✓" })]);
    assert.ok(d.ok);
    assert.equal(d.request.command, "SEND");
    assert.equal(d.request.id.toString(), "abc");
    assert.deepEqual(d.request.body, { text: "hi ✓" });
  });
});

describe("decodeRequest: malformed", () => {
  test("wrong signature → BAD_SIGNATURE, with the envelope and id kept for the reply", () => {
    const d = expectError(dealer(b("HTTP/1.1"), b("PING"), b("r9"), b("{}")), ErrorCode.BadSignature, /GM\/1/);
    assert.deepEqual(d.envelope, [RID]);
    assert.deepEqual(d.id, b("r9"));
  });

  test("wrong signature from a REQ socket keeps the delimiter", () => {
    const d = expectError(req(b("XX"), b("PING"), b("r"), b("{}")), ErrorCode.BadSignature);
    assert.equal(d.envelope.length, 2);
  });

  test("only a routing id, or nothing at all → BAD_SIGNATURE", () => {
    expectError([RID], ErrorCode.BadSignature);
    const d = expectError([], ErrorCode.BadSignature);
    assert.equal(d.id.length, 0);
  });

  test("another GM/ version → UNSUPPORTED_VERSION naming both versions", () => {
    expectError(dealer(b("GM/2"), b("PING"), b("r"), b("{}")), ErrorCode.UnsupportedVersion, /GM\/2.*GM\/1/);
    expectError(dealer(b("GM/10"), b("PING"), b("r"), b("{}")), ErrorCode.UnsupportedVersion);
  });

  test("too few frames → BAD_FRAMES", () => {
    expectError(dealer(SIG), ErrorCode.BadFrames, /4 frames.*got 1/);
    expectError(dealer(SIG, b("PING"), b("r")), ErrorCode.BadFrames, /got 3/);
  });

  test("too many frames → BAD_FRAMES, echoing the request id", () => {
    const d = expectError(dealer(SIG, b("PING"), b("r5"), b("{}"), b("{}")), ErrorCode.BadFrames, /got 5/);
    assert.deepEqual(d.id, b("r5"));
  });

  test("empty request id → BAD_FRAMES", () => {
    expectError(dealer(SIG, b("PING"), EMPTY, b("{}")), ErrorCode.BadFrames, /request id must be 1 to 64 bytes/);
  });

  test("oversized request id → BAD_FRAMES, and the reply does not echo it", () => {
    const d = expectError(dealer(SIG, b("PING"), b("i".repeat(65)), b("{}")), ErrorCode.BadFrames);
    assert.equal(d.id.length, 0);
  });

  test("empty or overlong command → UNKNOWN_COMMAND", () => {
    expectError(dealer(SIG, EMPTY, b("r"), b("{}")), ErrorCode.UnknownCommand);
    expectError(dealer(SIG, b("C".repeat(33)), b("r"), b("{}")), ErrorCode.UnknownCommand, /1 to 32 bytes/);
  });

  test("invalid JSON → BAD_JSON", () => {
    expectError(dealer(SIG, b("PING"), b("r"), b("{nope")), ErrorCode.BadJson, /not valid JSON/);
    expectError(dealer(SIG, b("PING"), b("r"), Buffer.from([0xff, 0xfe])), ErrorCode.BadJson);
  });

  for (const body of ["[]", "[1,2]", "null", "42", '"text"', "true"]) {
    test(`a JSON body that is not an object (${body}) → BAD_JSON`, () => {
      expectError(dealer(SIG, b("PING"), b("r"), b(body)), ErrorCode.BadJson, /must be a JSON object/);
    });
  }

  test("a body over Limits.bodyBytes → TOO_LARGE, even when it is valid JSON", () => {
    const body = Buffer.from(JSON.stringify({ pad: "x".repeat(Limits.bodyBytes) }));
    expectError(dealer(SIG, b("SEND"), b("r"), body), ErrorCode.TooLarge, new RegExp(`limit is ${Limits.bodyBytes}`));
  });
});

describe("encodeReply / encodeError", () => {
  test("a reply mirrors a DEALER envelope", () => {
    const frames = encodeReply([RID], b("r1"), { ok: true });
    assert.deepEqual(frames, [RID, SIG, b("200"), b("r1"), b('{"ok":true}')]);
  });

  test("a reply mirrors a REQ envelope (with its delimiter)", () => {
    const frames = encodeReply([RID, EMPTY], b("r1"), {});
    assert.equal(frames.length, 6);
    assert.deepEqual(frames[0], RID);
    assert.equal(frames[1]?.length, 0);
    assert.deepEqual(frames.slice(2), [SIG, b("200"), b("r1"), b("{}")]);
  });

  test("a pre-encoded Buffer body is sent as is; undefined becomes {}", () => {
    const pre = b('{"pre":1}');
    assert.equal(encodeReply([RID], b("r"), pre)[4], pre);
    assert.deepEqual(encodeReply([RID], b("r"), undefined)[4], b("{}"));
  });

  test("an error reply carries the error's status, code and message", () => {
    const frames = encodeError([RID, EMPTY], b("r2"), new GmError(ErrorCode.NotMember, "join first"));
    assert.deepEqual(frames.slice(0, 5), [RID, EMPTY, SIG, b("400"), b("r2")]);
    assert.deepEqual(JSON.parse(String(frames[5])), { code: "NOT_MEMBER", message: "join first" });

    const retry = encodeError([RID], b("r3"), new GmError(ErrorCode.ShuttingDown, "later", Status.TryAgain));
    assert.equal(String(retry[2]), "300");
    const internal = encodeError([RID], b("r4"), new GmError(ErrorCode.Internal, "boom", Status.ServerError));
    assert.equal(String(internal[2]), "500");
  });

  test("the error of a decoded request encodes back to its sender", () => {
    const d = decodeRequest(req(b("GM/2"), b("PING"), b("q"), b("{}")));
    assert.ok(!d.ok);
    const frames = encodeError(d.envelope, d.id, d.error);
    assert.deepEqual(frames.slice(0, 5), [RID, EMPTY, SIG, b("400"), b("q")]);
    assert.equal(JSON.parse(String(frames[5])).code, "UNSUPPORTED_VERSION");
  });
});

describe("decodeReply", () => {
  test("replies of every status", () => {
    for (const status of Object.values(Status)) {
      const m = decodeReply([SIG, b(status), b("id7"), b('{"x":1}')]);
      assert.deepEqual(m, { type: "reply", status, id: "id7", body: { x: 1 } });
    }
  });

  test("a reply produced by encodeReply/encodeError, minus the envelope", () => {
    const ok = decodeReply(encodeReply([], b("a"), { n: 1 }));
    assert.deepEqual(ok, { type: "reply", status: "200", id: "a", body: { n: 1 } });
    const err = decodeReply(encodeError([], b("b"), new GmError(ErrorCode.UnknownGroup, "no such group")));
    assert.deepEqual(err, {
      type: "reply",
      status: "400",
      id: "b",
      body: { code: "UNKNOWN_GROUP", message: "no such group" },
    });
  });

  test("an event is not a reply", () => {
    assert.equal(decodeReply([...encodeEvent(b("Mx"), "MESSAGE", {}), b("")]).type, "invalid");
  });

  test("invalid: wrong frame count, signature or body", () => {
    const frames = (n: number) => Array.from({ length: n }, () => b("{}"));
    for (const n of [0, 1, 3, 5]) {
      assert.deepEqual(decodeReply(frames(n)), { type: "invalid", reason: `expected 4 frames, got ${n}` });
    }
    assert.deepEqual(decodeReply([b("GM/2"), b("200"), b("i"), b("{}")]), {
      type: "invalid",
      reason: "bad signature",
    });
    assert.deepEqual(decodeReply([SIG, b("200"), b("i"), b("{oops")]), {
      type: "invalid",
      reason: "body is not JSON",
    });
    assert.deepEqual(decodeReply([SIG, b("MESSAGE"), b("g"), b("{}")]), {
      type: "invalid",
      reason: '"MESSAGE" is not a status',
    });
    // The REQ delimiter is stripped by the socket; a DEALER never sees it, so it counts as a frame.
    assert.equal(decodeReply([EMPTY, SIG, b("200"), b("i"), b("{}")]).type, "invalid");
  });
});

describe("decodeEvent", () => {
  test("events as published: topic, kind, body", () => {
    const m = decodeEvent(encodeEvent(b("M1234"), "MESSAGE", { seq: 3, text: "café" }));
    assert.deepEqual(m, { type: "event", topic: "M1234", kind: "MESSAGE", body: { seq: 3, text: "café" } });
    assert.deepEqual(decodeEvent(encodeEvent(b("Habc/1/"), "HELLO", {})), {
      type: "event",
      topic: "Habc/1/",
      kind: "HELLO",
      body: {},
    });
  });

  test("invalid: wrong frame count or body", () => {
    for (const n of [0, 1, 2, 4, 5]) {
      const frames = Array.from({ length: n }, () => b("{}"));
      assert.deepEqual(decodeEvent(frames), { type: "invalid", reason: `expected 3 frames, got ${n}` });
    }
    assert.deepEqual(decodeEvent([b("M"), b("MESSAGE"), b("{oops")]), {
      type: "invalid",
      reason: "body is not JSON",
    });
  });
});
