/**
 * Text from the network made safe to print on a terminal. A message, a name or an error message
 * could otherwise carry escape sequences (colours, a new window title, a cleared screen, a cursor
 * moved over earlier lines), a carriage return that overwrites the line, or bidirectional controls
 * that make it read other than it is; and an embedded line feed could forge a line that looks like
 * another user's message.
 */

/** Control characters (C0, DEL, C1) and the bidirectional formatting characters. */
const UNSAFE = /[\p{Cc}\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;

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
