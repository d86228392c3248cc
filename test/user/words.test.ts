import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { QuoteError } from "../../src/protocol/errors.js";
import { splitWords } from "../../src/user/words.js";

describe("splitWords", () => {
  test("blanks separate words; runs of blanks and edges are ignored", () => {
    assert.deepEqual(splitWords("send_message general hello"), ["send_message", "general", "hello"]);
    assert.deepEqual(splitWords("  a \t b\t\tc  "), ["a", "b", "c"]);
    assert.deepEqual(splitWords(""), []);
    assert.deepEqual(splitWords(" \t "), []);
  });

  test("single quotes keep everything literally", () => {
    assert.deepEqual(splitWords("say 'hello   world'"), ["say", "hello   world"]);
    assert.deepEqual(splitWords(String.raw`'a\b' 'it"s'`), [String.raw`a\b`, 'it"s']);
  });

  test('double quotes keep blanks and honour \\" and \\\\ only', () => {
    assert.deepEqual(splitWords(String.raw`"a \"quoted\" word"`), ['a "quoted" word']);
    assert.deepEqual(splitWords(String.raw`"back\\slash"`), [String.raw`back\slash`]);
    assert.deepEqual(splitWords(String.raw`"keep \n and \x"`), [String.raw`keep \n and \x`]);
    assert.deepEqual(splitWords(`"it's"`), ["it's"]);
  });

  test("a backslash outside quotes escapes the next character", () => {
    assert.deepEqual(splitWords(String.raw`a\ b c`), ["a b", "c"]);
    assert.deepEqual(splitWords(String.raw`\"x\"`), ['"x"']);
    assert.deepEqual(splitWords(String.raw`\'`), ["'"]);
    assert.deepEqual(splitWords("end\\ "), ["end "]);
    assert.deepEqual(splitWords("two\\\\"), ["two\\"]);
    // A trailing backslash has nothing to escape and is kept.
    assert.deepEqual(splitWords("a\\"), ["a\\"]);
  });

  test("quotes join with adjacent text into one word; empty quotes are an empty word", () => {
    assert.deepEqual(splitWords(`pre'mid dle'post`), ["premid dlepost"]);
    assert.deepEqual(splitWords(`a"b"'c'd`), ["abcd"]);
    assert.deepEqual(splitWords(`x '' y ""`), ["x", "", "y", ""]);
  });

  test("unicode passes through", () => {
    assert.deepEqual(splitWords(`send_message café "😀 ok"`), ["send_message", "café", "😀 ok"]);
  });

  test("an unclosed quote throws a QuoteError naming the kind", () => {
    assert.throws(
      () => splitWords("say 'hello"),
      (err: unknown) => {
        assert.ok(err instanceof QuoteError);
        assert.equal(err.name, "QuoteError");
        assert.equal(err.message, "unclosed single quote");
        return true;
      },
    );
    assert.throws(() => splitWords('say "hello'), { name: "QuoteError", message: "unclosed double quote" });
    // An escaped closing quote does not close it.
    assert.throws(() => splitWords(String.raw`"abc\"`), { message: "unclosed double quote" });
    assert.throws(() => splitWords(`'`), QuoteError);
  });
});
