import { Limits } from "../protocol/constants.js";

/**
 * Where the words that complete a shell argument come from: the shell's commands, the groups this
 * profile joined, the groups the directory lists, or a fixed set of words.
 */
export type Completion = "command" | "joined" | "directory" | readonly string[];

/** What completion needs of a shell command: what each of its arguments completes to, by position. */
export interface Completable {
  readonly complete?: readonly (Completion | undefined)[];
}

/** The word under the cursor and where its completions come from. */
export interface CompletionTarget {
  /** The text of the word so far (what a completion replaces). */
  readonly word: string;
  readonly from: Completion;
}

/**
 * What Tab completes in `line` (the text before the cursor), given the commands table: the first
 * word completes to a command, a later one to what that command's argument at that position
 * takes. Undefined where nothing completes: an unknown command, an argument that takes free text,
 * or a line with quotes or backslashes, whose words completion would have to re-quote.
 */
export function completionTarget(
  line: string,
  commands: Readonly<Record<string, Completable>>,
): CompletionTarget | undefined {
  if (/["'\\]/.test(line)) return undefined;
  const words = line.trimStart().split(/\s+/);
  const word = words.at(-1) ?? "";
  if (words.length === 1) return { word, from: "command" };
  const name = words[0] as string;
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  const from = command?.complete?.[words.length - 2];
  return from === undefined ? undefined : { word, from };
}

/**
 * The candidates among `names` for `word`, sorted; a single one ends with a space, as in other
 * shells, so the next argument can be typed at once. Names that are not valid group or command
 * names (e.g. from a directory that lists something odd) are never offered, so nothing from the
 * network is written to the terminal raw.
 */
export function matches(word: string, names: Iterable<string>): string[] {
  const found = [...new Set(names)].filter((n) => n.startsWith(word) && Limits.groupName.test(n)).sort();
  return found.length === 1 ? [`${found[0]} `] : found;
}

/** The longest text every one of `words` starts with. */
export function commonPrefix(words: readonly string[]): string {
  const [first, ...rest] = words;
  if (first === undefined) return "";
  let n = first.length;
  for (const w of rest) {
    let i = 0;
    while (i < n && i < w.length && w[i] === first[i]) i++;
    n = i;
  }
  return first.slice(0, n);
}
