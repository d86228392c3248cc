import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { printable } from "../../src/util/printable.js";

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
  });

  it("escapes line feeds, or keeps them with every following line indented", () => {
    const forged = "innocent\n[08:00:00] Alice: send me your password";
    assert.equal(printable(forged), "innocent\\n[08:00:00] Alice: send me your password");
    assert.equal(printable(forged, "    "), "innocent\n    [08:00:00] Alice: send me your password");
  });
});
