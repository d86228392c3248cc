import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ErrorCode, Limits } from "../../src/protocol/constants.js";
import { GmError } from "../../src/protocol/errors.js";
import {
  displayName,
  endpoint,
  groupName,
  messageId,
  messageText,
  optInt,
  optStr,
  str,
  uuid,
} from "../../src/protocol/validate.js";

/** Asserts that `fn` throws a GmError with this code (and a message matching `message`). */
function rejects(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof GmError, `expected a GmError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  });
}

describe("groupName", () => {
  test("accepts letters, digits, '.', '_' and '-', starting with a letter or digit, up to 64", () => {
    for (const name of ["general", "a", "0", "Team.A_b-c", "x".repeat(64)]) {
      assert.equal(groupName({ group: name }), name);
    }
    assert.equal(groupName({ name: "other-key" }, "name"), "other-key");
  });

  test("rejects anything else, naming the field", () => {
    const bad: unknown[] = ["", "-x", ".x", "_x", "x".repeat(65), "has space", "café", "a/b", "a:b", 7, null, ["a"]];
    for (const v of bad) rejects(() => groupName({ group: v }), ErrorCode.BadRequest, /"group" must be a group name/);
    rejects(() => groupName({}), ErrorCode.BadRequest);
    rejects(() => groupName({ name: "-" }, "name"), ErrorCode.BadRequest, /"name"/);
  });
});

describe("uuid", () => {
  test("accepts UUIDs in either case and returns them lower-case", () => {
    assert.equal(uuid({ id: "0190c4b8-7e5a-7c3d-8f00-0123456789ab" }, "id"), "0190c4b8-7e5a-7c3d-8f00-0123456789ab");
    assert.equal(uuid({ id: "0190C4B8-7E5A-7C3D-8F00-0123456789AB" }, "id"), "0190c4b8-7e5a-7c3d-8f00-0123456789ab");
  });

  test("rejects non-UUIDs", () => {
    const bad: unknown[] = [
      "",
      "not-a-uuid",
      "0190c4b87e5a7c3d8f000123456789ab",
      "{0190c4b8-7e5a-7c3d-8f00-0123456789ab}",
      "0190c4b8-7e5a-7c3d-8f00-0123456789ag",
      " 0190c4b8-7e5a-7c3d-8f00-0123456789ab",
      42,
      undefined,
    ];
    for (const v of bad) rejects(() => uuid({ user: v }, "user"), ErrorCode.BadRequest, /"user" must be a UUID/);
  });
});

describe("displayName look-alikes", () => {
  test("only spaces or zero-width characters → BAD_REQUEST", () => {
    for (const name of [" ", "\u3000\u00a0", "\u200b", "\u200b\u200c\u200d\u2060", "\u3164", "\ufeff"]) {
      rejects(() => displayName({ name }), ErrorCode.BadRequest, /visible character/);
    }
  });

  test("a bidi override, embedding, isolate or mark → BAD_REQUEST", () => {
    for (const name of ["Ana\u202e", "\u2066Bob\u2069", "x\u200fy", "\u202aZ"]) {
      rejects(() => displayName({ name }), ErrorCode.BadRequest, /bidirectional/);
    }
  });

  test("ordinary names, right-to-left scripts and emoji sequences pass", () => {
    for (const name of ["Ana", "José María", "\u05e9\u05dc\u05d5\u05dd", "\u{1f469}\u200d\u{1f4bb} dev"]) {
      assert.equal(displayName({ name }), name);
    }
  });
});

describe("messageId", () => {
  test("an RFC 9562 uuid (any version 1-8, variant 10xx, nil, max) passes, lower-cased", () => {
    for (const id of ["0190c4b8-7e5a-7c3d-8f00-0123456789ab", "3F1E2D4C-5B6A-4789-AA0B-1C2D3E4F5A6B"]) {
      assert.equal(messageId({ id }), id.toLowerCase());
    }
    assert.equal(messageId({ id: "00000000-0000-0000-0000-000000000000" }), "00000000-0000-0000-0000-000000000000");
    assert.equal(messageId({ id: "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF" }), "ffffffff-ffff-ffff-ffff-ffffffffffff");
  });

  test("a uuid of version 0 or 9, or variant c → BAD_REQUEST naming RFC 9562", () => {
    for (const id of [
      "0190c4b8-7e5a-0c3d-8f00-0123456789ab",
      "0190c4b8-7e5a-9c3d-8f00-0123456789ab",
      "0190c4b8-7e5a-4c3d-cf00-0123456789ab",
      "0190c4b8-7e5a-4c3d-7f00-0123456789ab",
    ]) {
      rejects(() => messageId({ id }), ErrorCode.BadRequest, /"id" must be an RFC 9562 uuid/);
    }
  });
});

describe("optInt and -0", () => {
  test("JSON's -0 is read as 0, not refused and not kept negative", () => {
    const v = optInt(JSON.parse('{"n":-0}'), "n", 0, 10);
    assert.ok(Object.is(v, 0), "-0 becomes +0");
  });
});

describe("messageText", () => {
  const limit = Limits.textBytes;

  test("accepts ordinary text, with surrounding blanks kept", () => {
    assert.equal(messageText({ text: "hello" }), "hello");
    assert.equal(messageText({ text: "  padded  " }), "  padded  ");
  });

  test("a text over the JSON limit once escaped → MESSAGE_TOO_LARGE, one at it passes", () => {
    const atLimit = "\u0001".repeat(Limits.textJsonBytes / 6);
    assert.equal(messageText({ text: atLimit }), atLimit);
    rejects(() => messageText({ text: `${atLimit}\u0001` }), ErrorCode.MessageTooLarge, /98310 bytes as JSON/);
    // Line feeds take 2 bytes: 40 KiB of them pass, 60 KiB do not, though both are within 64 KiB.
    assert.equal(messageText({ text: `x${"\n".repeat(40 * 1024)}` }).length, 40 * 1024 + 1);
    rejects(() => messageText({ text: `x${"\n".repeat(60 * 1024)}` }), ErrorCode.MessageTooLarge, /as JSON/);
    // Non-ASCII text is not escaped: 64 KiB of it passes.
    assert.equal(messageText({ text: "é".repeat(limit / 2) }).length, limit / 2);
  });

  test("empty or whitespace-only → EMPTY_MESSAGE", () => {
    for (const text of ["", " ", "\t\n  \r\n", "\u00a0\u3000"]) {
      rejects(() => messageText({ text }), ErrorCode.EmptyMessage, /empty/);
    }
  });

  test("only zero-width or other invisible characters → EMPTY_MESSAGE; a visible character among them is a text", () => {
    for (const text of [
      "\u200b",
      "\u200b\u200c\u200d",
      " \u2060\ufeff ",
      "\u00ad",
      "\u3164",
      "\u202e\u2066",
      "\ufe0f",
    ]) {
      rejects(() => messageText({ text }), ErrorCode.EmptyMessage, /invisible/);
    }
    // Message texts are otherwise untouched: a ZWJ emoji sequence, a bidi override in a sentence.
    for (const text of ["\u{1f468}\u200d\u{1f469}", "\u200bx", "abc \u202e def"])
      assert.equal(messageText({ text }), text);
  });

  test("a non-string → BAD_REQUEST", () => {
    for (const text of [undefined, null, 1, ["a"], { a: 1 }])
      rejects(() => messageText({ text }), ErrorCode.BadRequest);
  });

  test("ASCII exactly at the limit passes; one byte over → MESSAGE_TOO_LARGE", () => {
    assert.equal(messageText({ text: "a".repeat(limit) }).length, limit);
    rejects(
      () => messageText({ text: "a".repeat(limit + 1) }),
      ErrorCode.MessageTooLarge,
      new RegExp(`is ${limit + 1} bytes; the limit is ${limit} bytes`),
    );
  });

  test("the limit counts UTF-8 bytes: 2-, 3- and 4-byte characters exactly at the limit", () => {
    const twoByte = "é".repeat(limit / 2);
    assert.equal(Buffer.byteLength(twoByte), limit);
    assert.equal(messageText({ text: twoByte }), twoByte);

    const threeByte = "€".repeat(Math.floor(limit / 3)) + "a".repeat(limit % 3);
    assert.equal(Buffer.byteLength(threeByte), limit);
    assert.equal(messageText({ text: threeByte }), threeByte);

    const fourByte = "😀".repeat(limit / 4);
    assert.equal(Buffer.byteLength(fourByte), limit);
    assert.equal(fourByte.length, limit / 2); // UTF-16 units: the check must not count these
    assert.equal(messageText({ text: fourByte }), fourByte);
  });

  test("multibyte text one character over the limit is rejected", () => {
    rejects(() => messageText({ text: "é".repeat(limit / 2) + "a" }), ErrorCode.MessageTooLarge);
    rejects(() => messageText({ text: "€".repeat(Math.floor(limit / 3)) + "é" }), ErrorCode.MessageTooLarge);
    rejects(() => messageText({ text: "😀".repeat(limit / 4) + "a" }), ErrorCode.MessageTooLarge);
    // Fewer UTF-16 units than the limit, but far more bytes.
    const text = "😀".repeat(limit / 2 - 1);
    assert.ok(text.length < limit);
    rejects(() => messageText({ text }), ErrorCode.MessageTooLarge, new RegExp(`${Buffer.byteLength(text)} bytes`));
  });
});

describe("endpoint", () => {
  test("accepts connectable tcp endpoints", () => {
    for (const v of ["tcp://127.0.0.1:6001", "tcp://host.example.org:1", "tcp://[::1]:6001", "tcp://localhost:65535"]) {
      assert.equal(endpoint({ address: v }), v);
    }
  });

  test("rejects other schemes, missing ports, wildcards and junk", () => {
    const bad: unknown[] = [
      "127.0.0.1:6001",
      "udp://127.0.0.1:6001",
      "ipc:///tmp/sock",
      "tcp://127.0.0.1",
      "tcp://127.0.0.1:",
      "tcp://*:6001",
      "tcp://127.0.0.1:123456",
      "tcp://a b:1",
      "tcp://host:1/path",
      "tcp://evil\u0000host:1",
      "tcp://a\nb:1",
      "tcp://\u001b]0;x\u0007:1",
      "tcp://h\u00f6st:1",
      "",
      6001,
    ];
    for (const v of bad) {
      rejects(() => endpoint({ address: v }), ErrorCode.BadRequest, /"address" must be|"address" must be a non-empty/);
    }
  });

  test("rejects ports that cannot be connected to (0 and above 65535)", () => {
    for (const v of ["tcp://host:0", "tcp://host:65536", "tcp://host:99999", "tcp://[::1]:0"]) {
      rejects(() => endpoint({ address: v }), ErrorCode.BadRequest, /port 1-65535/);
    }
  });
});

describe("well-formed Unicode", () => {
  // A lone surrogate cannot be stored as UTF-8: SQLite would keep U+FFFD for it, so HISTORY would
  // differ from what was published live. Every string field is refused instead, naming the field.
  const lone = ["a\ud800b", "\udc00", "end\ud83d", "\ude00start", "😀\ud800"];

  test("message text with a lone surrogate is BAD_REQUEST naming the field", () => {
    for (const text of lone) rejects(() => messageText({ text }), ErrorCode.BadRequest, /"text" .*well-formed/);
    // A pair is one code point, not a lone surrogate.
    assert.equal(messageText({ text: "a\ud83d\ude00b" }), "a😀b");
  });

  test("display names and every other string field too", () => {
    for (const name of lone) rejects(() => displayName({ name }), ErrorCode.BadRequest, /"name" .*well-formed/);
    for (const v of lone) rejects(() => str({ k: v }, "k"), ErrorCode.BadRequest, /"k" .*well-formed/);
    assert.equal(displayName({ name: "\ud83d\ude00" }), "😀");
  });
});

describe("display names cannot carry a fingerprint", () => {
  test("a bracketed group of 8 letters or digits is refused, look-alikes and full-width forms too", () => {
    for (const name of [
      "Robert (1a2b3c4d)",
      "Robert ( 1a2b3c4d )",
      "bob (184b35\u0430" + "1)", // Cyrillic a
      "root\uff083b8fddd6\uff09", // full-width parentheses
      "root [3b8fddd6]",
      "root {3B8FDDD6}",
      "root \u27e83b8fddd6\u27e9", // mathematical angle brackets
    ]) {
      rejects(() => displayName({ name }), ErrorCode.BadRequest, /fingerprint-like group in brackets/);
    }
    for (const name of ["Ana (she/her)", "Bob (dev)", "R2-D2 (droid)", "Ada 1a2b3c4d", "(1a2b3c4)"]) {
      assert.equal(displayName({ name }), name);
    }
  });
});

describe("other field helpers", () => {
  test("str / optStr: non-empty strings up to a maximum length", () => {
    assert.equal(str({ k: "v" }, "k"), "v");
    rejects(() => str({ k: "" }, "k"), ErrorCode.BadRequest, /"k" must be a non-empty string/);
    rejects(() => str({ k: 5 }, "k"), ErrorCode.BadRequest);
    rejects(() => str({ k: "abcd" }, "k", 3), ErrorCode.BadRequest, /longer than 3/);
    assert.equal(optStr({}, "k"), undefined);
    assert.equal(optStr({ k: null }, "k"), undefined);
    assert.equal(optStr({ k: "x" }, "k"), "x");
    rejects(() => optStr({ k: "" }, "k"), ErrorCode.BadRequest);
  });

  test("optInt: safe integers within bounds", () => {
    assert.equal(optInt({}, "n", 1, 10), undefined);
    assert.equal(optInt({ n: null }, "n", 1, 10), undefined);
    assert.equal(optInt({ n: 1 }, "n", 1, 10), 1);
    assert.equal(optInt({ n: 10 }, "n", 1, 10), 10);
    for (const n of [0, 11, 1.5, "5", true, Number.NaN, Number.POSITIVE_INFINITY]) {
      rejects(() => optInt({ n }, "n", 1, 10), ErrorCode.BadRequest, /"n" must be an integer from 1 to 10/);
    }
    // Beyond 2^53 integers are not exact: refused even when the bounds would allow them.
    rejects(() => optInt({ n: 2 ** 53 }, "n", 0, Number.POSITIVE_INFINITY), ErrorCode.BadRequest);
  });

  test("displayName: 1 to 64 characters without control characters", () => {
    assert.equal(displayName({ name: "Ana María" }), "Ana María");
    assert.equal(displayName({ name: "x".repeat(64) }), "x".repeat(64));
    // Counted as a user counts: 64 emoji are 64 characters (128 UTF-16 units).
    assert.equal(displayName({ name: "😀".repeat(64) }), "😀".repeat(64));
    rejects(() => displayName({ name: "😀".repeat(65) }), ErrorCode.BadRequest, /longer than 64 characters/);
    rejects(() => displayName({ name: "x".repeat(65) }), ErrorCode.BadRequest);
    rejects(() => displayName({ name: "" }), ErrorCode.BadRequest);
    rejects(() => displayName({ name: "evil\u001b[31m" }), ErrorCode.BadRequest, /control characters/);
    rejects(() => displayName({ name: "two\nlines" }), ErrorCode.BadRequest, /control characters/);
  });
});

describe("userRef and bool: moderation's fields", async () => {
  const { userRef, bool, optBool } = await import("../../src/protocol/validate.js");
  test("a uuid or its 32 hex digits is a user id; 8 to 31 hex digits a fingerprint; else BAD_REQUEST", () => {
    const id = "0193A2B3-C4D5-8E6F-8A0B-1C2D3E4F5A6B";
    assert.equal(userRef({ m: id }, "m"), id.toLowerCase());
    assert.equal(userRef({ m: id.replaceAll("-", "") }, "m"), id.toLowerCase());
    assert.equal(userRef({ m: "0193A2B3" }, "m"), "0193a2b3");
    for (const bad of ["0193a2b", "0193a2b3-c4", "", 42, null, "z193a2b3"]) {
      assert.throws(() => userRef({ m: bad }, "m"), { code: "BAD_REQUEST", message: /"m" must be a user id/ });
    }
  });
  test("booleans are true or false, nothing else", () => {
    assert.equal(bool({ b: false }, "b"), false);
    assert.equal(optBool({}, "b"), undefined);
    assert.throws(() => bool({}, "b"), { message: '"b" must be true or false' });
    assert.throws(() => optBool({ b: "yes" }, "b"), { code: "BAD_REQUEST" });
  });
});
