/**
 * How every failure reaches the user, in one style whatever raised it (gm's library, a server's
 * error reply, oclif's parser, a plugin, Node): `Error: <message>` on stderr, then `Hint: <what to
 * do>` when there is something to do, and an exit code that says what kind of failure it was.
 * With --json the same failure is one JSON object on stdout instead. DEBUG or GM_DEBUG adds the stack.
 */
import { stripVTControlCharacters } from "node:util";
import type { Command } from "@oclif/core";
import chalk from "chalk";
import { GmError, isWireCode, LocalErrorCode, TimeoutError, UsageError } from "../protocol/errors.js";
import { failureText } from "../user/format.js";
import { cliRemedy, hintOf, type Remedy } from "../user/hints.js";
import { printable, printableJson } from "../util/printable.js";
import { shellWord } from "./flags.js";

export { failureText };

/** Exit codes: 1 the request failed or was refused; 2 bad usage; 3 a peer did not answer. */
export const Exit = { Failed: 1, Usage: 2, Unreachable: 3 } as const;

/** The exit code for a failure, by its class (src/protocol/errors.ts). */
export function exitCode(err: unknown): number {
  if (err instanceof TimeoutError) return Exit.Unreachable;
  if (err instanceof UsageError) return Exit.Usage;
  return Exit.Failed;
}

/**
 * A failure the CLI itself words, with its own hint, code and exit code (a command that is not
 * gm's: 127, as a shell says).
 */
export class CliFailure extends Error {
  override readonly name = "CliFailure";
  /** Where oclif looks for the exit code. */
  readonly oclif: { exit: number };
  readonly code: string;
  readonly hint: string | undefined;
  constructor(message: string, options: { exit: number; code: string; hint?: string }) {
    super(message);
    this.oclif = { exit: options.exit };
    this.code = options.code;
    this.hint = options.hint;
  }
}

/** What a failure is shown with: the user's own terms for a hint's command, and --json. */
export interface FailureContext {
  /** Print the failure as JSON on stdout. */
  readonly json?: boolean;
  /** The CLI's name (`gm`). */
  readonly bin?: string;
  /** The flags of `gm user` the user gave (--profile bob), repeated in a hint's command. */
  readonly userFlags?: readonly string[];
}

/** A failure as gm reports it. */
export interface Failure {
  /** gm's error code (docs/PROTOCOL.md, src/protocol/errors.ts), USAGE for oclif's usage errors. */
  readonly code: string;
  readonly message: string;
  readonly exit: number;
  readonly hint?: string;
}

/** oclif's errors carry their exit code in `oclif.exit`; its parser's also the parse (`parse`). */
interface OclifError {
  readonly oclif?: { readonly exit?: number };
  readonly parse?: { readonly input?: { readonly context?: { readonly id?: string } } };
  readonly code?: unknown;
}

const isOclif = (err: unknown): err is Error & OclifError =>
  err instanceof Error && typeof (err as OclifError).oclif?.exit === "number";

/** `this.exit(n)`: an exit, not a failure; already reported if anything was to be said. */
export function isExit(err: unknown): err is Error & { oclif: { exit: number } } {
  return isOclif(err) && (err as OclifError).code === "EEXIT";
}

/** The remedy as a command line of this CLI, with the flags the user gave. */
export function remedyCommand(remedy: Remedy, context: FailureContext = {}): string {
  return [context.bin ?? "gm", "user", ...cliRemedy(remedy), ...(context.userFlags ?? [])].map(shellWord).join(" ");
}

/** Any error as a failure: its code, message, exit code and hint. */
export function describeFailure(err: unknown, context: FailureContext = {}, commandId?: string): Failure {
  const hint = hintOf(err);
  const remedy = hint === undefined ? undefined : `${hint.advice}: ${remedyCommand(hint.remedy, context)}`;
  if (err instanceof CliFailure) {
    return {
      code: err.code,
      message: err.message,
      exit: err.oclif.exit,
      ...(err.hint !== undefined && { hint: err.hint }),
    };
  }
  if (err instanceof GmError || !isOclif(err)) {
    const code = err instanceof GmError ? err.code : systemCode(err);
    return {
      code: code ?? "ERROR",
      message: failureText(err, commandId),
      exit: exitCode(err),
      ...(remedy !== undefined && { hint: remedy }),
    };
  }
  // oclif's own: a usage error from its parser (which says "See more help with --help" itself),
  // this.error() in a command, a plugin's error. The message is oclif's, coloured on a terminal.
  const exit = err.oclif?.exit ?? Exit.Failed;
  const text = stripVTControlCharacters(err.message);
  const message = text.replace(/\n+See more help with --help\s*$/, "");
  const id = err.parse?.input?.context?.id ?? commandId;
  const help =
    message !== text && id !== undefined
      ? `see ${[context.bin ?? "gm", ...id.split(":"), "--help"].join(" ")}`
      : undefined;
  return {
    code: exit === Exit.Usage ? LocalErrorCode.Usage : "ERROR",
    message: message.replace(/\s*\n\s*/g, "\n").trim(),
    exit,
    ...(help !== undefined && { hint: help }),
  };
}

/** A Node system error's code (EACCES, ENOSPC), if it has one. */
function systemCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && /^[A-Z_]+$/.test(code) ? code : undefined;
}

/** Whether the failure is to be shown with its stack. */
const debugging = () => Boolean(process.env.DEBUG || process.env.GM_DEBUG);

/**
 * Reports a failure (the stack first under DEBUG or GM_DEBUG) and returns its exit code:
 * `Error: <message>` (with its wire code, as `(NOT_MEMBER)`) and `Hint: <hint>` on stderr, or with
 * --json `{"error": {"code", "message", "exit", "hint"?}}` on one line of stdout.
 */
export function reportFailure(err: unknown, context: FailureContext = {}, commandId?: string): number {
  const failure = describeFailure(err, context, commandId);
  if (debugging() && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  if (context.json) {
    process.stdout.write(`${printableJson({ error: failure })}\n`);
    return failure.exit;
  }
  const code = isWireCode(failure.code) ? chalk.dim(` (${failure.code})`) : "";
  // oclif's messages (its own text) may have several lines; anything else is shown on one.
  const message = isOclif(err) ? printable(failure.message, "  ") : printable(failure.message);
  const lines = [`${chalk.red("Error:")} ${message}${code}`];
  if (failure.hint !== undefined) lines.push(`${chalk.yellow("Hint:")} ${printable(failure.hint)}`);
  process.stderr.write(`${lines.join("\n")}\n`);
  return failure.exit;
}

/**
 * Reports a command's failure (reportFailure) and exits with its code. oclif's own errors (from
 * `this.error()` or `this.exit()`) are rethrown: the CLI's entry reports them (src/main.ts).
 */
export function fail(command: Command, err: unknown, context: FailureContext = {}): never {
  if (isOclif(err)) throw err;
  return command.exit(reportFailure(err, { bin: command.config.bin, ...context }, command.id));
}

/**
 * The command `argv` names (`user:send`), by the longest run of its first words that is one of
 * `ids`, as oclif finds it; undefined if none is.
 */
export function commandIdOf(argv: readonly string[], ids: readonly string[]): string | undefined {
  const words: string[] = [];
  for (const word of argv) {
    if (word.startsWith("-")) break;
    words.push(word);
  }
  for (let n = words.length; n > 0; n--) {
    const id = words.slice(0, n).join(":");
    if (ids.includes(id)) return id;
  }
  return undefined;
}

/** Whether `argv` asks for JSON output (a `--json` before any `--`). */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf("--");
  return (end === -1 ? argv : argv.slice(0, end)).includes("--json");
}
