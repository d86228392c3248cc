/**
 * The options that choose which messages to show, as `gm user messages`, `gm user search` and the
 * shell's `get_messages` and `search` take them (times in any form of util/timestamp.ts), and the
 * line that tells how to see older ones.
 */
import { parseArgs } from "node:util";
import { UsageError } from "../protocol/errors.js";
import { parseTimestamp, TIMESTAMP_FORMS } from "../util/timestamp.js";
import type { MessagesOptions } from "./client.js";

/** The options as typed: times and `--before` as strings, `--limit` as a number. */
export interface HistoryArgs {
  readonly since?: string | undefined;
  readonly until?: string | undefined;
  readonly before?: string | undefined;
  readonly limit?: number | undefined;
}

/** How `--before` is described in help texts. */
export const BEFORE_FORMS = "a message number written #N (as the hint for older messages gives it) or a time";

/**
 * A `--before` value: `#N` is message number N (seq < N); anything else is a time (ts < it). A
 * plain number is a time in epoch ms, as everywhere else: a message number needs its `#`.
 */
export function parseBefore(value: string, now?: number): { before: number } | { until: number } {
  const text = value.trim();
  if (text.startsWith("#")) {
    const seq = /^#(\d{1,15})$/.exec(text)?.[1];
    if (seq === undefined || Number(seq) < 1) {
      throw new UsageError(`invalid --before "${value}": a message number is # and digits, from #1 (e.g. #120)`);
    }
    return { before: Number(seq) };
  }
  try {
    return { until: parseTimestamp(text, now) };
  } catch (err) {
    throw new UsageError(`invalid --before "${value}": give ${BEFORE_FORMS} (${TIMESTAMP_FORMS})`, { cause: err });
  }
}

/** The client's options for `args`: every bound narrows (a time given twice counts its earlier one). */
export function historyOptions(args: HistoryArgs, now: number = Date.now()): MessagesOptions {
  const since = args.since === undefined ? undefined : parseTimestamp(args.since, now);
  let until = args.until === undefined ? undefined : parseTimestamp(args.until, now);
  let before: number | undefined;
  if (args.before !== undefined) {
    const parsed = parseBefore(args.before, now);
    if ("before" in parsed) before = parsed.before;
    else until = Math.min(until ?? parsed.until, parsed.until);
  }
  if (args.limit !== undefined && (!Number.isSafeInteger(args.limit) || args.limit < 1)) {
    throw new UsageError(`invalid limit ${args.limit}: give a whole number from 1`);
  }
  return {
    ...(since !== undefined && { since }),
    ...(until !== undefined && { until }),
    ...(before !== undefined && { before }),
    ...(args.limit !== undefined && { limit: args.limit }),
  };
}

/**
 * The options of the next page back: the same lower time bound (as an exact ISO time, so that a
 * relative one such as 15m does not move), the same limit, and `--before #N` below the oldest
 * message shown. The upper bounds are implied by #N. As words of a command line.
 */
export function olderArgs(options: MessagesOptions, oldest: number): string[] {
  const words: string[] = [];
  if (options.since !== undefined) words.push("--since", new Date(options.since).toISOString());
  if (options.limit !== undefined) words.push("--limit", String(options.limit));
  words.push("--before", `#${oldest}`);
  return words;
}

/**
 * The shell's `get_messages <group_name> [<timestamp>] [options]` and `search <group_name>
 * <word>... [options]`: the positional words and the options (`--since`/`-s`, `--until`,
 * `--before`, `--limit`/`-n`, also as `--name=value`), anywhere on the line; `--` ends them (a
 * word to search for may start with `-` after it). An unknown option or a missing value is a
 * UsageError that names it.
 */
export function parseShellOptions(words: readonly string[]): { positionals: string[]; args: HistoryArgs } {
  let parsed: ReturnType<typeof parseShell>;
  try {
    parsed = parseShell(words);
  } catch (err) {
    // node's messages name the option and what is wrong ("Unknown option '--x'", "Option
    // '--limit <value>' argument missing"), without its error code.
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ""), {
      cause: err,
    });
  }
  const { since, until, before, limit } = parsed.values;
  let count: number | undefined;
  if (limit !== undefined) {
    if (!/^\d{1,9}$/.test(limit) || Number(limit) < 1) {
      throw new UsageError(`invalid --limit "${limit}": give a whole number from 1`);
    }
    count = Number(limit);
  }
  return { positionals: parsed.positionals, args: { since, until, before, limit: count } };
}

function parseShell(words: readonly string[]) {
  return parseArgs({
    args: [...words],
    allowPositionals: true,
    strict: true,
    options: {
      since: { type: "string", short: "s" },
      until: { type: "string" },
      before: { type: "string" },
      limit: { type: "string", short: "n" },
    },
  });
}

/**
 * A shell line's words after `get_messages` or `search`: the group, the other positional words
 * (for get_messages at most one, a time: the original `get_messages <group> [<timestamp>]`, which
 * means --since), and the options.
 */
export function shellHistory(
  words: readonly string[],
  command: "get_messages" | "search",
): { group: string; rest: string[]; options: MessagesOptions } {
  const { positionals, args } = parseShellOptions(words);
  const [group, ...rest] = positionals;
  if (group === undefined || (command === "search" && rest.length === 0)) {
    throw new UsageError(
      command === "search"
        ? "usage: search <group_name> <word>... [--since T] [--until T] [--before #N|T] [--limit N]"
        : "usage: get_messages <group_name> [<timestamp>] [--since T] [--until T] [--before #N|T] [--limit N]",
    );
  }
  if (command === "get_messages") {
    if (rest.length > 1)
      throw new UsageError(`get_messages takes one <timestamp>; got ${rest.length}: ${rest.join(" ")}`);
    if (rest.length === 1 && args.since !== undefined) {
      throw new UsageError("give the time once: a <timestamp> after the group is the same as --since");
    }
    const since = rest[0] ?? args.since;
    return { group, rest: [], options: historyOptions({ ...args, since }) };
  }
  return { group, rest, options: historyOptions(args) };
}

/** The shell's line that tells how to see older messages: the same command, one page back. */
export function olderLine(
  command: "get_messages" | "search",
  group: string,
  words: readonly string[],
  options: MessagesOptions,
  oldest: number,
): string {
  const what = command === "search" ? "older matches" : "older messages";
  const line = [command, group, ...olderArgs(options, oldest), ...(words.length > 0 ? ["--", ...words] : [])];
  return `${what}: ${line.map(shellWord).join(" ")}`;
}

/** A word of a shell line as splitWords reads it back: as it is if plain, else in single quotes. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./#-]+$/.test(word) ? word : `'${word.replace(/'/g, `'"'"'`)}'`;
}
