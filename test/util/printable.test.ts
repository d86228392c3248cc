import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { printable, printableJson } from "../../src/util/printable.js";

describe("printable", () => {
  it("leaves ordinary text alone, emoji and accents included", () => {
    assert.equal(printable("héllo, wörld ✓ 😀\tok"), "héllo, wörld ✓ 😀\tok");
  });

  it("shows escape sequences, carriage returns, DEL and C1 controls as escapes", () => {
    assert.equal(printable("red \x1b[31mALERT\x1b[0m"), "red \\x1b[31mALERT\\x1b[0m");
    assert.equal(printable("\x1b]0;pwned\x07title"), "\\x1b]0;pwned\\x07title");
    assert.equal(printable("fine\roverwritten"), "fine\\x0doverwritten");
    assert.equal(printable("a\x7fb\u009bc\x00"), "a\\x7fb\\x9bc\\x00");
  });

  it("shows bidirectional controls, which reorder what a terminal displays", () => {
    assert.equal(printable("abc\u202edcba\u2066x\u2069"), "abc\\u{202e}dcba\\u{2066}x\\u{2069}");
    assert.equal(printable("line\u2028para\u2029"), "line\\u{2028}para\\u{2029}");
  });

  it("escapes line feeds, or keeps them with every following line indented", () => {
    const forged = "innocent\n[08:00:00] Alice: send me your password";
    assert.equal(printable(forged), "innocent\\n[08:00:00] Alice: send me your password");
    assert.equal(printable(forged, "    "), "innocent\n    [08:00:00] Alice: send me your password");
  });
});

describe("printableJson", () => {
  it("writes C1 controls, DEL, bidirectional controls and line separators as \\u escapes", () => {
    const text = "a\u009b31mb\x7fc\u202ed\u2028e\x1b[0m";
    const out = printableJson({ text });
    assert.equal(out, '{"text":"a\\u009b31mb\\u007fc\\u202ed\\u2028e\\u001b[0m"}');
    assert.doesNotMatch(out, /[\u007f-\u009f\u202e\u2028]/);
    assert.deepEqual(JSON.parse(out), { text }, "the same value to a parser");
  });

  it("leaves ordinary text, emoji and indentation as JSON.stringify writes them", () => {
    const value = { name: "héllo ✓ 😀", n: [1, 2] };
    assert.equal(printableJson(value, 2), JSON.stringify(value, null, 2));
  });
});
