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
  encodeRequestJson,
  type Frame,
} from "../../src/protocol/codec.js";
import { ErrorCode, Limits, SIGNATURE, Status } from "../../src/protocol/constants.js";
import { GmError } from "../../src/protocol/errors.js";

const b = (s: string) => Buffer.from(s);
const EMPTY = Buffer.alloc(0);
const RID = Buffer.from([0, 1, 2, 3, 4]);
/** Frames as a socket would carry them: strings become their UTF-8 bytes. */
const wire = (frames: Frame[]) => frames.map((f) => (typeof f === "string" ? b(f) : f));
/** One request frame: header line, LF, body. */
const frame = (header: string, body = "{}") => b(`${header}\n${body}`);

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
    const d = decodeRequest(dealer(frame(`${SIGNATURE} PING r1`, '{"a":1,"s":"é"}')));
    assert.ok(d.ok);
    assert.deepEqual(d.request.envelope, [RID]);
    assert.equal(d.request.command, "PING");
    assert.equal(d.request.id, "r1");
    assert.deepEqual(d.request.body, { a: 1, s: "é" });
  });

  test("a REQ-style request keeps the empty delimiter in the envelope", () => {
    const d = decodeRequest(req(frame(`${SIGNATURE} LIST 7`)));
    assert.ok(d.ok);
    assert.equal(d.request.envelope.length, 2);
    assert.deepEqual(d.request.envelope[0], RID);
    assert.equal(d.request.envelope[1]?.length, 0);
    assert.equal(d.request.command, "LIST");
    assert.deepEqual(d.request.body, {});
  });

  test("an empty body (nothing after the line feed) is an empty object", () => {
    const d = decodeRequest(dealer(frame(`${SIGNATURE} PING x`, "")));
    assert.ok(d.ok);
    assert.deepEqual(d.request.body, {});
  });

  test("a body may itself contain line feeds and spaces", () => {
    const d = decodeRequest(dealer(frame(`${SIGNATURE} SEND s`, '{\n  "text": "a b\\nc"\n}')));
    assert.ok(d.ok);
    assert.deepEqual(d.request.body, { text: "a b\nc" });
  });

  test("limits are inclusive: 64-byte id, 32-byte command, body of exactly Limits.bodyBytes", () => {
    const body = JSON.stringify({ pad: "x".repeat(Limits.bodyBytes - 10) });
    assert.equal(body.length, Limits.bodyBytes);
    const d = decodeRequest(dealer(frame(`${SIGNATURE} ${"C".repeat(32)} ${"i".repeat(64)}`, body)));
    assert.ok(d.ok, d.ok ? "" : d.error.message);
    assert.equal(d.request.command.length, 32);
    assert.equal(d.request.id.length, 64);
  });

  test("encodeRequest and encodeRequestJson round-trip through decodeRequest", () => {
    const d = decodeRequest([RID, ...wire(encodeRequest("SEND", "abc", { text: "hi ✓" }))]);
    assert.ok(d.ok);
    assert.equal(d.request.command, "SEND");
    assert.equal(d.request.id, "abc");
    assert.deepEqual(d.request.body, { text: "hi ✓" });
    assert.deepEqual(
      encodeRequestJson("SEND", "abc", '{"text":"hi ✓"}'),
      encodeRequest("SEND", "abc", { text: "hi ✓" }),
    );
  });

  test("the frame is the header line, a line feed and the JSON body, nothing else", () => {
    assert.deepEqual(encodeRequest("LIST", "1", { user: "alice" }), [`${SIGNATURE} LIST 1\n{"user":"alice"}`]);
  });
});

describe("decodeRequest: malformed", () => {
  test("wrong signature → BAD_SIGNATURE, with the envelope and id kept for the reply", () => {
    const d = expectError(dealer(frame("HTTP/1.1 PING r9")), ErrorCode.BadSignature, /GM\/2/);
    assert.deepEqual(d.envelope, [RID]);
    assert.equal(d.id, "r9");
  });

  test("wrong signature from a REQ socket keeps the delimiter", () => {
    const d = expectError(req(frame("XX PING r")), ErrorCode.BadSignature);
    assert.equal(d.envelope.length, 2);
  });

  test("only a routing id, an empty frame, or nothing at all → BAD_SIGNATURE", () => {
    expectError([RID], ErrorCode.BadSignature);
    expectError([RID, EMPTY, EMPTY], ErrorCode.BadSignature);
    const d = expectError([], ErrorCode.BadSignature);
    assert.equal(d.id, "");
  });

  test("another GM/ version → UNSUPPORTED_VERSION naming both versions", () => {
    expectError(dealer(frame("GM/3 PING r")), ErrorCode.UnsupportedVersion, /GM\/3.*GM\/2/);
    expectError(dealer(frame("GM/10 PING r")), ErrorCode.UnsupportedVersion);
  });

  test("a GM/1 request (four frames) → UNSUPPORTED_VERSION", () => {
    expectError(dealer(b("GM/1"), b("PING"), b("r"), b("{}")), ErrorCode.UnsupportedVersion, /"GM\/1"/);
  });

  test("more than one frame after the envelope → BAD_FRAMES, echoing the request id", () => {
    const d = expectError(dealer(frame(`${SIGNATURE} PING r5`), b("{}")), ErrorCode.BadFrames, /one frame.*got 2/);
    assert.equal(d.id, "r5");
  });

  test("no line feed, or a header of 2 or 4 words, or one with double spaces → BAD_FRAMES", () => {
    expectError(dealer(b(`${SIGNATURE} PING r`)), ErrorCode.BadFrames, /header line/);
    expectError(dealer(b(SIGNATURE)), ErrorCode.BadFrames, /header line/);
    expectError(dealer(frame(`${SIGNATURE} PING`)), ErrorCode.BadFrames, /header line/);
    expectError(dealer(frame(`${SIGNATURE} PING r x`)), ErrorCode.BadFrames, /header line/);
    expectError(dealer(frame(`${SIGNATURE}  PING r`)), ErrorCode.BadFrames, /header line/);
  });

  test("the id of a header that does not parse is not echoed (no other word is taken for it)", () => {
    assert.equal(expectError(dealer(frame(`${SIGNATURE}  LIST r6`)), ErrorCode.BadFrames).id, "");
    const long = frame(`${SIGNATURE} ${"C".repeat(40)} ${"i".repeat(60)}`);
    assert.equal(expectError(dealer(long), ErrorCode.BadFrames).id, "");
  });

  test("a header line over the limit → BAD_FRAMES", () => {
    expectError(dealer(frame(`${SIGNATURE} PING r${" ".repeat(200)}`)), ErrorCode.BadFrames, /at most 102 bytes/);
  });

  test("empty request id → BAD_FRAMES", () => {
    expectError(dealer(frame(`${SIGNATURE} PING `)), ErrorCode.BadFrames, /request id must be 1 to 64/);
  });

  test("oversized or non-ASCII request id → BAD_FRAMES, and the reply does not echo it", () => {
    const long = expectError(dealer(frame(`${SIGNATURE} PING ${"i".repeat(65)}`)), ErrorCode.BadFrames);
    assert.equal(long.id, "");
    const accented = expectError(dealer(frame(`${SIGNATURE} PING idé`)), ErrorCode.BadFrames);
    assert.equal(accented.id, "");
    const tab = expectError(dealer(frame(`${SIGNATURE} PING i\td`)), ErrorCode.BadFrames);
    assert.equal(tab.id, "");
  });

  test("overlong or non-ASCII command → UNKNOWN_COMMAND", () => {
    expectError(dealer(frame(`${SIGNATURE} ${"C".repeat(33)} r`)), ErrorCode.UnknownCommand, /1 to 32/);
    expectError(dealer(frame(`${SIGNATURE} PÏNG r`)), ErrorCode.UnknownCommand);
  });

  test("invalid JSON → BAD_JSON", () => {
    expectError(dealer(frame(`${SIGNATURE} PING r`, "{nope")), ErrorCode.BadJson, /not valid JSON/);
    const bytes = Buffer.concat([b(`${SIGNATURE} PING r\n`), Buffer.from([0xff, 0xfe])]);
    expectError(dealer(bytes), ErrorCode.BadJson);
  });

  test("a body nested deeper than Limits.jsonDepth → BAD_JSON naming the limit, before parsing", () => {
    const nested = (n: number, inner = "1") => `{"a":${"[".repeat(n - 1)}${inner}${"]".repeat(n - 1)}}`;
    const atLimit = decodeRequest(dealer(frame(`${SIGNATURE} PING r`, nested(Limits.jsonDepth))));
    assert.ok(atLimit.ok, "a body exactly at the limit is decoded");
    expectError(
      dealer(frame(`${SIGNATURE} PING r`, nested(Limits.jsonDepth + 1))),
      ErrorCode.BadJson,
      new RegExp(`deeper than ${Limits.jsonDepth} levels`),
    );
    // Unbalanced too: the scan stops at the first level past the limit, it never parses.
    expectError(dealer(frame(`${SIGNATURE} PING r`, "[".repeat(100_000))), ErrorCode.BadJson, /deeper than 32/);
    // Brackets inside strings, escaped quotes included, are text: they do not count.
    const inString = JSON.stringify({ text: `${"[{".repeat(1000)}\\"${"[".repeat(1000)}` });
    const decoded = decodeRequest(dealer(frame(`${SIGNATURE} PING r`, inString)));
    assert.ok(decoded.ok, "brackets in a string are not nesting");
  });

  for (const body of ["[]", "[1,2]", "null", "42", '"text"', "true"]) {
    test(`a JSON body that is not an object (${body}) → BAD_JSON`, () => {
      expectError(dealer(frame(`${SIGNATURE} PING r`, body)), ErrorCode.BadJson, /must be a JSON object/);
    });
  }

  test("a body over Limits.bodyBytes → TOO_LARGE, even when it is valid JSON", () => {
    const body = JSON.stringify({ pad: "x".repeat(Limits.bodyBytes) });
    expectError(
      dealer(frame(`${SIGNATURE} SEND r`, body)),
      ErrorCode.TooLarge,
      new RegExp(`limit is ${Limits.bodyBytes}`),
    );
  });
});

describe("encodeReply / encodeError", () => {
  test("a reply mirrors a DEALER envelope", () => {
    assert.deepEqual(encodeReply([RID], "r1", { ok: true }), [RID, `${SIGNATURE} 200 r1\n{"ok":true}`]);
  });

  test("a reply mirrors a REQ envelope (with its delimiter); undefined becomes {}", () => {
    assert.deepEqual(encodeReply([RID, EMPTY], "r1", undefined), [RID, EMPTY, `${SIGNATURE} 200 r1\n{}`]);
  });

  test("an error reply carries the error's status, code and message", () => {
    const frames = encodeError([RID, EMPTY], "r2", new GmError(ErrorCode.NotMember, "join first"));
    assert.deepEqual(frames, [
      RID,
      EMPTY,
      `${SIGNATURE} 400 r2\n${JSON.stringify({ code: "NOT_MEMBER", message: "join first" })}`,
    ]);
    const retry = encodeError([RID], "r3", new GmError(ErrorCode.ShuttingDown, "later", Status.TryAgain));
    assert.match(String(retry[1]), /^GM\/2 300 r3\n/);
    const internal = encodeError([RID], "r4", new GmError(ErrorCode.Internal, "boom", Status.ServerError));
    assert.match(String(internal[1]), /^GM\/2 500 r4\n/);
  });

  test("the error of a decoded request encodes back to its sender; an unreadable id is left empty", () => {
    const d = decodeRequest(req(frame("GM/3 PING q")));
    assert.ok(!d.ok);
    const frames = encodeError(d.envelope, d.id, d.error);
    assert.deepEqual(frames.slice(0, 2), [RID, EMPTY]);
    assert.match(String(frames[2]), /^GM\/2 400 q\n/);
    assert.equal(JSON.parse(String(frames[2]).split("\n")[1] as string).code, "UNSUPPORTED_VERSION");

    const noId = decodeRequest(dealer(frame(`${SIGNATURE} PING`)));
    assert.ok(!noId.ok);
    assert.match(String(encodeError(noId.envelope, noId.id, noId.error)[1]), /^GM\/2 400 \n/);
  });
});

describe("decodeReply", () => {
  test("replies of every status", () => {
    for (const status of Object.values(Status)) {
      const m = decodeReply([frame(`${SIGNATURE} ${status} id7`, '{"x":1}')]);
      assert.deepEqual(m, { type: "reply", status, id: "id7", body: { x: 1 } });
    }
  });

  test("a reply produced by encodeReply/encodeError, minus the envelope", () => {
    const ok = decodeReply(wire(encodeReply([], "a", { n: 1 })));
    assert.deepEqual(ok, { type: "reply", status: "200", id: "a", body: { n: 1 } });
    const err = decodeReply(wire(encodeError([], "b", new GmError(ErrorCode.UnknownGroup, "no such group"))));
    assert.deepEqual(err, {
      type: "reply",
      status: "400",
      id: "b",
      body: { code: "UNKNOWN_GROUP", message: "no such group" },
    });
    const noId = decodeReply(wire(encodeError([], "", new GmError(ErrorCode.BadFrames, "bad"))));
    assert.equal(noId.type === "reply" && noId.id, "");
  });

  test("an event is not a reply", () => {
    assert.equal(decodeReply(wire(encodeEvent("Mx", "MESSAGE", {}))).type, "invalid");
  });

  test("invalid: wrong frame count, signature, header or body", () => {
    for (const n of [0, 2, 4]) {
      const frames = Array.from({ length: n }, () => frame(`${SIGNATURE} 200 i`));
      assert.deepEqual(decodeReply(frames), { type: "invalid", reason: `expected 1 frame, got ${n}` });
    }
    assert.deepEqual(decodeReply([frame("GM/1 200 i")]), { type: "invalid", reason: "bad signature" });
    assert.deepEqual(decodeReply([frame(`${SIGNATURE} 200 i`, "{oops")]), {
      type: "invalid",
      reason: "body is not JSON",
    });
    assert.deepEqual(decodeReply([frame(`${SIGNATURE} MESSAGE g`)]), {
      type: "invalid",
      reason: '"MESSAGE" is not a status',
    });
    assert.deepEqual(decodeReply([b(`${SIGNATURE} 200 i`)]), { type: "invalid", reason: "bad header line" });
    // The REQ delimiter is stripped by the socket; a DEALER never sees it, so it counts as a frame.
    assert.equal(decodeReply([EMPTY, frame(`${SIGNATURE} 200 i`)]).type, "invalid");
  });
});

describe("decodeEvent", () => {
  test("events as published: topic, kind, body", () => {
    const m = decodeEvent(wire(encodeEvent("M1234", "MESSAGE", { seq: 3, text: "café\nau lait" })));
    assert.deepEqual(m, {
      type: "event",
      topic: "M1234",
      kind: "MESSAGE",
      body: { seq: 3, text: "café\nau lait" },
    });
    assert.deepEqual(decodeEvent(wire(encodeEvent("Habc/1/", "HELLO", {}))), {
      type: "event",
      topic: "Habc/1/",
      kind: "HELLO",
      body: {},
    });
  });

  test("the frame is the topic, the kind, a line feed and the JSON body, nothing else", () => {
    assert.deepEqual(encodeEvent("M1", "LEFT", { user: "u" }), ['M1 LEFT\n{"user":"u"}']);
  });

  test("invalid: wrong frame count, header or body", () => {
    for (const n of [0, 2, 3]) {
      const frames = Array.from({ length: n }, () => frame("M1 MESSAGE"));
      assert.deepEqual(decodeEvent(frames), { type: "invalid", reason: `expected 1 frame, got ${n}` });
    }
    assert.deepEqual(decodeEvent([frame("M1 MESSAGE", "{oops")]), { type: "invalid", reason: "body is not JSON" });
    assert.deepEqual(decodeEvent([frame("M1")]), { type: "invalid", reason: "bad header line" });
    assert.deepEqual(decodeEvent([b("M1 MESSAGE {}")]), { type: "invalid", reason: "bad header line" });
  });
});
