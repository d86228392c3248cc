/**
 * Text from the network made safe to print on a terminal. A message, a name or an error message
 * could otherwise carry escape sequences (colours, a new window title, a cleared screen, a cursor
 * moved over earlier lines), a carriage return that overwrites the line, or bidirectional controls
 * that make it read other than it is; and an embedded line feed could forge a line that looks like
 * another user's message.
 */

/**
 * Control characters (C0, DEL, C1), the bidirectional formatting characters, and the line and
 * paragraph separators (which some terminals and most editors take for line breaks).
 */
const UNSAFE = /[\p{Cc}\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/gu;

/** An unsafe character as a visible escape; tab and line feed stay as they are here. */
const visible = (c: string): string => {
  if (c === "\t" || c === "\n") return c;
  const code = c.codePointAt(0) as number;
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`;
};

/**
 * Replaces every unsafe character with a visible escape (`\x1b`, `\u{202e}`). Line feeds are kept
 * when `continuation` is given, with each following line starting with it (an indent, so that no
 * line of a message can pass for a line of its own); otherwise they are escaped too.
 */
export function printable(text: string, continuation?: string): string {
  const safe = text.replace(UNSAFE, visible);
  return continuation === undefined ? safe.replaceAll("\n", "\\n") : safe.replaceAll("\n", `\n${continuation}`);
}

/**
 * What JSON.stringify leaves raw that a terminal may act on: DEL, the C1 controls (U+009B is an
 * 8-bit CSI), the bidirectional formatting characters, and the line and paragraph separators.
 * (JSON escapes C0 controls itself.) None can stand outside a JSON string.
 */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g;

/**
 * JSON.stringify, with every character a terminal could act on written as a `\uXXXX` escape: the
 * same JSON to a parser, and safe to print (`--json` output is often read on a terminal).
 */
export function printableJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(
    UNSAFE_IN_JSON,
    (c) => `\\u${(c.codePointAt(0) as number).toString(16).padStart(4, "0")}`,
  );
}
