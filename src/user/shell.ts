import { clearScreenDown, createInterface, cursorTo, type Interface, moveCursor } from "node:readline";
import chalk from "chalk";
import { v7 as uuidv7 } from "uuid";
import { CancelledError } from "../protocol/errors.js";
import { printable } from "../util/printable.js";
import type { GmClient } from "./client.js";
import { type Completion, commonPrefix, completionTarget, matches } from "./completion.js";
import { Follower } from "./follower.js";
import {
  FINGERPRINT_INVITE_WARNING,
  failureText,
  formatFeedEvent,
  formatGroups,
  formatJoined,
  formatMembers,
  formatMessage,
  formatUnreadSummary,
} from "./format.js";
import { hintOf, shellRemedy } from "./hints.js";
import { olderLine, shellHistory } from "./history-options.js";
import { splitWords } from "./words.js";

type Lines = string | readonly string[];

/** One shell command: how it is used, what `help` says of it, what Tab completes, what it does. */
export interface ShellCommand {
  readonly usage: string;
  /** One line, for the list `help` prints. */
  readonly summary: string;
  /** Further lines of that list, under the summary. */
  readonly notes?: readonly string[];
  /** What `help <command>` says besides the usage and the summary. */
  readonly details?: readonly string[];
  readonly examples: readonly string[];
  readonly min: number;
  readonly max: number;
  /** What each argument completes to with Tab, by position; none: free text. */
  readonly complete?: readonly (Completion | undefined)[];
  /**
   * Does it and resolves with the lines to print. Every request it makes is given `signal`
   * (Ctrl-C), so a cancelled command rejects with CancelledError at once and prints nothing.
   */
  run(args: string[], signal: AbortSignal): Promise<Lines> | Lines;
}

export interface ShellOptions {
  readonly input: NodeJS.ReadableStream;
  readonly output: NodeJS.WritableStream;
  /** Show a prompt and edit lines (a terminal); otherwise read commands line by line. */
  readonly interactive: boolean;
}

const PROMPT = chalk.green("gm> ");
/** Where the summaries start in `help`'s list; a longer usage puts its summary on the next line. */
const HELP_COLUMN = 41;
/** How long Tab waits for the directory's list before giving the line back (it completes later). */
const COMPLETION_WAIT_MS = 200;
/** How long the directory's list is used for completion before it is asked again. */
const DIRECTORY_CACHE_MS = 10_000;
const EXIT_HINT = "(To exit, press Ctrl+C again or Ctrl+D or type exit)";

/** A line read, with what cancels it (Ctrl-C while it waits or runs). */
interface Queued {
  readonly line: string;
  readonly controller: AbortController;
}

/**
 * The interactive mode: the original commands over the same client as the one-shot commands.
 * A bad line prints one error and the shell goes on. On a terminal: Ctrl-C clears the line, or
 * cancels the command that is waiting, and twice on an empty line leaves (as Node's REPL);
 * Tab completes commands and group names; live messages print above the line being typed.
 */
export class Shell {
  /** Every command, in `help`'s order: help, its list and Tab completion are all read from here. */
  readonly commands: Readonly<Record<string, ShellCommand>>;
  private rl: Interface | undefined;
  /** Set once the shell has ended: a follow still starting then fails silently (its client closed). */
  private ended = false;
  /** Ids of messages this shell sent: their live copies are not printed again. */
  private readonly sent = new Set<string>();
  /** Lines read and not yet run, in order. */
  private readonly queue: Queued[] = [];
  /** The command running now. */
  private running: Queued | undefined;
  /** Ctrl-C was pressed on an empty line: another one leaves. */
  private armed = false;
  private directoryNames: { readonly names: readonly string[]; readonly at: number } | undefined;
  private directoryFetch: Promise<readonly string[] | undefined> | undefined;
  /** Cancels a directory fetch still under way when the shell ends. */
  private readonly closing = new AbortController();
  /** Follows every joined group live, also those joined or left from other processes. */
  private readonly follower: Follower;
  failures = 0;

  constructor(
    private readonly client: GmClient,
    private readonly options: ShellOptions,
  ) {
    const member = "<member>, <user>: a public key, a user id or a fingerprint (`gm user whoami` shows yours)";
    this.commands = {
      list_groups: {
        usage: "list_groups",
        summary: "list the groups registered with the message server",
        details: ["Asks the message server which groups exist, how many members each has, and where it is served."],
        examples: ["list_groups"],
        min: 0,
        max: 0,
        run: (_, signal) => this.listGroups(signal),
      },
      join_group: {
        usage: "join_group <group_name>",
        summary: "join a group",
        details: [
          "Joins a group the message server lists and remembers it in this profile; from then on its",
          "new messages appear here as they arrive. Joining a group again is harmless.",
        ],
        examples: ["join_group general"],
        min: 1,
        max: 1,
        complete: ["directory"],
        run: ([g], signal) => this.join(g as string, signal),
      },
      show_groups: {
        usage: "show_groups",
        summary: "show the groups you have joined",
        details: ["Lists the groups this profile has joined, since when, and where; asks no server."],
        examples: ["show_groups"],
        min: 0,
        max: 0,
        run: () => formatJoined(this.client.groups()),
      },
      leave_group: {
        usage: "leave_group <group_name>",
        summary: "leave a group",
        details: ["Leaves a group: nothing sent to it after this reaches you, and this profile forgets it."],
        examples: ["leave_group general"],
        min: 1,
        max: 1,
        complete: ["joined"],
        run: ([g], signal) => this.leave(g as string, signal),
      },
      show_members: {
        usage: "show_members <group_name>",
        summary: "list a group's members and who is online",
        details: [
          "Lists a joined group's members: display name, fingerprint, when they joined, and whether",
          "they are online (following the group now); the owner and you are marked.",
        ],
        examples: ["show_members general"],
        min: 1,
        max: 1,
        complete: ["joined"],
        run: async ([g], signal) => formatMembers(await this.client.members(g as string, { signal }), this.client.user),
      },
      get_messages: {
        usage: "get_messages <group_name> [<timestamp>]",
        summary: "show messages, all or since <timestamp>",
        notes: [
          "(2026-11-25T10:30:00Z, 10:30, 15m, 2h, 1d, epoch ms)",
          "[--since T] [--until T] [--before #N|T] [--limit N]: as gm user messages",
        ],
        details: [
          "Shows a joined group's messages, oldest first: all of them, or those sent since <timestamp>,",
          "which is ISO-8601 (2026-11-25T10:30:00Z), HH:MM[:SS] today in local time (10:30), a time",
          "ago (30s, 15m, 2h, 1d) or epoch milliseconds. Also takes --since, --until, --before (a",
          "message number #N or a time) and --limit N (the newest N); a line says how to see older ones.",
        ],
        examples: [
          "get_messages general",
          "get_messages general 15m",
          "get_messages general 10:30",
          "get_messages general --limit 20 --before '#120'",
        ],
        min: 1,
        max: Number.POSITIVE_INFINITY,
        complete: ["joined"],
        run: (args, signal) => this.messages(args, signal),
      },
      search: {
        usage: "search <group_name> <word>...",
        summary: "find the messages with every word, newest first",
        notes: ["(the options of get_messages; at most 20 unless --limit)"],
        details: [
          "Shows a joined group's messages that hold every word, newest first. Words are whole words,",
          "in any case and without accents; nothing else in the query has a meaning.",
        ],
        examples: ["search general lunch", "search general release notes --limit 5"],
        min: 2,
        max: Number.POSITIVE_INFINITY,
        complete: ["joined"],
        run: (args, signal) => this.search(args, signal),
      },
      send_message: {
        usage: "send_message <group_name> <message>",
        summary: "send a message (quote it or not)",
        details: [
          "Sends the rest of the line to a joined group; `sent #<n>` says the group server has it on",
          "disk. Quotes keep several blanks in a row.",
        ],
        examples: ["send_message general hello everyone", 'send_message general "two  blanks"'],
        min: 2,
        max: Number.POSITIVE_INFINITY,
        complete: ["joined"],
        run: ([g, ...words], signal) => this.send(g as string, words.join(" "), signal),
      },
      remove_member: {
        usage: "remove_member <group_name> <member>",
        summary: "remove a member of a group you own",
        details: ["As the group's owner, ends a member's membership; they may join again.", member],
        examples: ["remove_member general 83f18b88"],
        min: 2,
        max: 2,
        complete: ["joined"],
        run: ([g, m], signal) => this.remove(g as string, m as string, false, signal),
      },
      bar_member: {
        usage: "bar_member <group_name> <member>",
        summary: "remove a member and bar their key from joining again",
        details: ["As the group's owner, removes a member and refuses their key's joins from now on.", member],
        examples: ["bar_member general 83f18b88"],
        min: 2,
        max: 2,
        complete: ["joined"],
        run: ([g, m], signal) => this.remove(g as string, m as string, true, signal),
      },
      unbar_member: {
        usage: "unbar_member <group_name> <member>",
        summary: "let a barred key join again",
        details: ["As the group's owner, lifts a bar.", member],
        examples: ["unbar_member general 83f18b88"],
        min: 2,
        max: 2,
        complete: ["joined"],
        run: ([g, m], signal) => this.unbar(g as string, m as string, signal),
      },
      invite: {
        usage: "invite <group_name> <user>",
        summary: "invite a user to a group you own",
        details: ["As the group's owner, lets a user join an invite-only group.", member],
        examples: ["invite general <their public key>"],
        min: 2,
        max: 2,
        complete: ["joined"],
        run: ([g, u], signal) => this.invite(g as string, u as string, signal),
      },
      invite_only: {
        usage: "invite_only <group_name> on|off",
        summary: "let only invited users join, or everyone",
        notes: ["(<member>, <user>: public key, user id or fingerprint)"],
        details: ["As the group's owner, makes it invite-only (on) or open to everyone (off); members stay."],
        examples: ["invite_only general on"],
        min: 2,
        max: 2,
        complete: ["joined", ["on", "off"]],
        run: ([g, state], signal) => this.inviteOnly(g as string, state as string, signal),
      },
      help: {
        usage: "help [<command>]",
        summary: "show this help, or explain one command",
        examples: ["help", "help get_messages"],
        min: 0,
        max: 1,
        complete: ["command"],
        run: ([name]) => (name === undefined ? this.helpList() : this.helpFor(name)),
      },
      exit: {
        usage: "exit",
        summary: "leave the shell (or Ctrl-D, or Ctrl-C twice)",
        details: ["`quit` does the same."],
        examples: ["exit"],
        min: 0,
        max: 0,
        run: () => [], // execute() ends the shell before it gets here
      },
    };
    this.follower = new Follower(client, {
      since: Date.now(),
      onMessage: (group, m) => {
        if (!this.sent.delete(m.id)) this.printLive(formatMessage(m, undefined, group));
        this.client.markRead(group, m.seq);
      },
      onEvent: (event) => this.printLive(chalk.yellow(formatFeedEvent(event))),
      onError: (group, err) => {
        if (!this.ended) this.printLive(chalk.yellow(printable(`not following "${group}" live: ${err.message}`)));
      },
      onJoined: (group) => this.printLive(chalk.dim(printable(`now following "${group}"`))),
    });
  }

  private print(lines: Lines): void {
    for (const line of typeof lines === "string" ? [lines] : lines) this.options.output.write(`${line}\n`);
  }

  /** Reads and runs commands until `exit` or end of input (Ctrl-D, Ctrl-C twice on a terminal). */
  async run(): Promise<void> {
    const { input, output, interactive } = this.options;
    const rl = createInterface({
      input,
      output,
      terminal: interactive,
      prompt: PROMPT,
      ...(interactive && {
        completer: (line: string, done: (err: null, result: [string[], string]) => void) => this.complete(line, done),
      }),
    });
    this.rl = rl;
    let closed = false;
    let wake: (() => void) | undefined;
    rl.on("line", (line: string) => {
      this.queue.push({ line, controller: new AbortController() });
      wake?.();
    });
    rl.on("close", () => {
      closed = true;
      this.rl = undefined; // nothing may draw on it any more
      wake?.();
    });
    const onKeypress = (_: string | undefined, key: { ctrl?: boolean; name?: string } | undefined) =>
      this.keypress(key);
    if (interactive) {
      rl.on("SIGINT", () => this.interrupt());
      input.on("keypress", onKeypress);
      this.print(
        chalk.dim(`gm shell as ${this.client.profile.data.name}; type help for the commands, exit or Ctrl-D to leave.`),
      );
      rl.prompt();
      // Asked in the background: a silent group server does not hold up the prompt.
      void this.unreadSummary();
    }
    // Groups joined before the shell started (e.g. with `gm user join`) are followed too, and those
    // joined or left from another process while it runs; in the background, so a group server that
    // does not answer does not hold up the prompt.
    void this.follower.followAll();
    let exited = false;
    try {
      for (;;) {
        const next = this.queue.shift();
        if (next === undefined) {
          if (closed) break;
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
          continue;
        }
        this.running = next;
        // While a command runs there is no prompt: a live message redraws only what was typed ahead.
        rl.setPrompt("");
        try {
          if (!(await this.execute(next.line, next.controller.signal))) {
            exited = true;
            break;
          }
        } finally {
          this.running = undefined;
          rl.setPrompt(PROMPT);
        }
        if (interactive && !closed) rl.prompt();
      }
    } finally {
      this.ended = true;
      this.follower.stop();
      this.rl = undefined;
      this.closing.abort();
      input.off("keypress", onKeypress);
      rl.close();
      // Ctrl-D and Ctrl-C leave the cursor after the prompt: the user's own prompt starts below it.
      if (interactive && !exited) output.write("\n");
    }
  }

  /** Runs one line; false means the shell should end. `signal` cancels what it waits for. */
  async execute(line: string, signal: AbortSignal = new AbortController().signal): Promise<boolean> {
    let words: string[];
    try {
      words = splitWords(line);
    } catch (err) {
      this.error((err as Error).message);
      return true;
    }
    const [name, ...args] = words;
    if (name === undefined) return true;
    if (name === "exit" || name === "quit") return false;
    const command = this.command(name);
    if (command === undefined) {
      this.error(`unknown command "${name}"; type help for the list`);
      return true;
    }
    if (args.length < command.min || args.length > command.max) {
      this.error(`usage: ${command.usage}`);
      return true;
    }
    try {
      this.print(await command.run(args, signal));
    } catch (err) {
      if (err instanceof CancelledError) {
        this.print(chalk.yellow(cancelledText(name, args, err)));
        return true;
      }
      // In gm's words where the one-shot commands have some (a full disk: the message was not stored).
      this.error(failureText(err, name === "send_message" ? "user:send" : `shell:${name}`));
      // What to do about it, as a shell command (the CLI words the same hint as a `gm` command).
      const hint = hintOf(err);
      if (hint !== undefined)
        this.print(chalk.yellow(`hint: ${printable(`${hint.advice}: ${shellRemedy(hint.remedy)}`)}`));
    }
    return true;
  }

  private command(name: string): ShellCommand | undefined {
    return Object.hasOwn(this.commands, name) ? this.commands[name] : undefined;
  }

  /** Ctrl-C: cancels the command that runs (or waits to), else clears the line, else arms the exit. */
  private interrupt(): void {
    const rl = this.rl;
    if (rl === undefined) return;
    const waiting = this.running ?? this.queue[0];
    if (waiting !== undefined) {
      waiting.controller.abort(); // it prints "cancelled" itself
      return;
    }
    const empty = rl.line.length === 0;
    if (empty && this.armed) {
      rl.close(); // run() ends the line
      return;
    }
    // Ends the line where it is, text kept on the screen, as the REPL does (not in @types/node).
    (rl as Interface & { clearLine(): void }).clearLine();
    this.armed = empty;
    if (empty) this.print(chalk.dim(EXIT_HINT));
    rl.prompt();
  }

  private keypress(key: { ctrl?: boolean; name?: string } | undefined): void {
    if (key?.ctrl !== true || key.name !== "c") this.armed = false;
    // Once a command whose argument is a group of the directory's is typed, fetch its list, so
    // that it is at hand by the time Tab is pressed.
    const rl = this.rl;
    if (rl === undefined || this.running !== undefined) return;
    if (completionTarget(rl.line.slice(0, rl.cursor), this.commands)?.from === "directory") void this.directory();
  }

  /** Tab: the candidates for the word before the cursor (readline's asynchronous completer). */
  private complete(line: string, done: (err: null, result: [string[], string]) => void): void {
    const target = completionTarget(line, this.commands);
    if (target === undefined) {
      done(null, [[], line]);
      return;
    }
    const names = this.names(target.from);
    if (names !== undefined) {
      done(null, [matches(target.word, names), target.word]);
      return;
    }
    // The directory's list is not at hand. The line editor waits for it only a moment; if it
    // comes later and the line is still as it was, the word is completed then.
    const typed = { line: this.rl?.line, cursor: this.rl?.cursor };
    const fetching = this.directory();
    let answered = false;
    const timer = setTimeout(() => {
      answered = true;
      done(null, [[], target.word]);
      void fetching.then((found) => this.completeLate(line, typed, found));
    }, COMPLETION_WAIT_MS);
    void fetching.then((found) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      done(null, [matches(target.word, found ?? []), target.word]);
    });
  }

  /** Completes `line` with a directory list that came after Tab gave up, if the line is as it was. */
  private completeLate(
    line: string,
    typed: { line: string | undefined; cursor: number | undefined },
    found: readonly string[] | undefined,
  ): void {
    const rl = this.rl;
    if (found === undefined || rl === undefined || this.running !== undefined) return;
    if (rl.line !== typed.line || rl.cursor !== typed.cursor) return;
    const target = completionTarget(line, this.commands);
    if (target === undefined) return;
    const prefix = commonPrefix(matches(target.word, found));
    if (prefix.length > target.word.length) rl.write(prefix.slice(target.word.length));
  }

  /** The names a completion draws from; undefined while the directory's list is not known. */
  private names(from: Completion): readonly string[] | undefined {
    if (typeof from !== "string") return from;
    switch (from) {
      case "command":
        return Object.keys(this.commands);
      case "joined":
        return this.client.groups().map((g) => g.name);
      case "directory": {
        const cached = this.directoryNames;
        return cached !== undefined && Date.now() - cached.at < DIRECTORY_CACHE_MS ? cached.names : undefined;
      }
    }
  }

  /** The directory's group names: a fetch under way, or a new one (undefined if it fails). */
  private directory(): Promise<readonly string[] | undefined> {
    const cached = this.names("directory");
    if (cached !== undefined) return Promise.resolve(cached);
    this.directoryFetch ??= this.client
      .listGroups({ signal: this.closing.signal })
      .then(
        (groups) => {
          this.remember(groups.map((g) => g.name));
          return groups.map((g) => g.name);
        },
        () => undefined,
      )
      .finally(() => {
        this.directoryFetch = undefined;
      });
    return this.directoryFetch;
  }

  private remember(names: readonly string[]): void {
    this.directoryNames = { names, at: Date.now() };
  }

  /**
   * Prints a line that arrived on its own above the line being typed, which is then drawn again
   * below it as it was, cursor included, also when it wraps over several rows.
   */
  private printLive(line: string): void {
    const rl = this.rl;
    if (rl === undefined || !this.options.interactive) {
      this.print(line);
      return;
    }
    const out = this.options.output;
    const { rows } = rl.getCursorPos();
    moveCursor(out, 0, -rows);
    cursorTo(out, 0);
    clearScreenDown(out);
    this.print(line);
    // Readline redraws a line from `prevRows` rows above the cursor (its own record of where the
    // cursor is, not kept up to date while text is typed past the end of a row); the cursor is
    // now where the line starts. The field is not in @types/node.
    (rl as Interface & { prevRows?: number }).prevRows = 0;
    rl.prompt(true);
  }

  private error(message: string): void {
    this.failures++;
    this.print(chalk.red(`error: ${printable(message)}`));
  }

  private helpList(): string[] {
    const lines: string[] = [];
    const pad = " ".repeat(HELP_COLUMN);
    for (const c of Object.values(this.commands)) {
      if (c.usage.length + 2 <= HELP_COLUMN) lines.push(`${c.usage.padEnd(HELP_COLUMN)}${c.summary}`);
      else lines.push(c.usage, `${pad}${c.summary}`);
      for (const note of c.notes ?? []) lines.push(`${pad}${note}`);
    }
    return lines;
  }

  private helpFor(name: string): string[] {
    const c = this.command(name);
    if (c === undefined) throw new Error(`unknown command "${name}"; type help for the list`);
    return [
      `usage: ${c.usage}`,
      `  ${c.summary}`,
      ...(c.details ?? []).map((d) => `  ${d}`),
      c.examples.length === 1 ? "example:" : "examples:",
      ...c.examples.map((e) => `  ${e}`),
    ];
  }

  private async listGroups(signal: AbortSignal): Promise<Lines> {
    const groups = await this.client.listGroups({ signal });
    this.remember(groups.map((g) => g.name));
    return formatGroups(groups);
  }

  private async join(group: string, signal: AbortSignal): Promise<Lines> {
    const r = await this.client.join(group, { signal });
    const line = `${r.joined ? "Joined" : "Already a member of"} ${chalk.cyan(group)} (${r.members} member${r.members === 1 ? "" : "s"})`;
    if (this.client.following(group)) return line;
    // Wait until its live messages are followed, unless Ctrl-C says not to: the join is done.
    const aborted = new Promise<"aborted">((resolve) =>
      signal.addEventListener("abort", () => resolve("aborted"), { once: true }),
    );
    if ((await Promise.race([this.follower.add(r.group), aborted])) === "aborted") {
      return [line, chalk.yellow("cancelled waiting for its live messages; they follow once its server answers")];
    }
    return line;
  }

  private async leave(group: string, signal: AbortSignal): Promise<Lines> {
    const r = await this.client.leave(group, { signal });
    return r.joined ? `Left ${chalk.cyan(group)}` : `Not a member of ${chalk.cyan(group)}: nothing to leave`;
  }

  /** One line at start: the joined groups with messages the user has not seen. */
  private async unreadSummary(): Promise<void> {
    if (this.client.groups().length === 0) return;
    const counts = await this.client.unread();
    if (!this.ended) this.printLive(chalk.dim(formatUnreadSummary(counts)));
  }

  private async remove(group: string, member: string, bar: boolean, signal: AbortSignal): Promise<Lines> {
    const r = await this.client.remove(group, member, bar, { signal });
    const what = r.left ? "Removed" : "Did not remove (not a member)";
    return `${what} ${r.member} from ${chalk.cyan(group)}${r.barred ? "; barred from joining again" : ""}`;
  }

  private async unbar(group: string, member: string, signal: AbortSignal): Promise<Lines> {
    const r = await this.client.unbar(group, member, { signal });
    return `${r.unbarred ? "Unbarred" : "Was not barred:"} ${r.member} in ${chalk.cyan(group)}`;
  }

  private async invite(group: string, user: string, signal: AbortSignal): Promise<Lines> {
    const r = await this.client.invite(group, user, { signal });
    const warning = r.invitee.includes("-") ? [] : [chalk.yellow(`warning: ${FINGERPRINT_INVITE_WARNING}`)];
    return [...warning, `${r.invited ? "Invited" : "Already invited:"} ${r.invitee} to ${chalk.cyan(group)}`];
  }

  private async inviteOnly(group: string, state: string, signal: AbortSignal): Promise<Lines> {
    if (state !== "on" && state !== "off") throw new Error("usage: invite_only <group_name> on|off");
    const r = await this.client.setInviteOnly(group, state === "on", { signal });
    return `${chalk.cyan(group)} is ${r.inviteOnly ? "invite-only" : "open to all"}`;
  }

  private async messages(words: string[], signal: AbortSignal): Promise<Lines> {
    const { group, options } = shellHistory(words, "get_messages");
    const { messages, older } = await this.client.history(group, { ...options, signal });
    const newest = messages.at(-1);
    if (newest !== undefined) this.client.markRead(group, newest.seq);
    if (messages.length === 0) return chalk.dim("No messages.");
    const lines = messages.map((m) => formatMessage(m));
    const oldest = messages[0];
    if (older && oldest !== undefined) lines.push(chalk.dim(olderLine("get_messages", group, [], options, oldest.seq)));
    return lines;
  }

  private async search(words: string[], signal: AbortSignal): Promise<Lines> {
    const { group, rest, options } = shellHistory(words, "search");
    const { messages, older } = await this.client.search(group, rest.join(" "), { ...options, signal });
    if (messages.length === 0) return chalk.dim("No messages match.");
    const lines = messages.map((m) => formatMessage(m));
    const oldest = messages.at(-1);
    if (older && oldest !== undefined) lines.push(chalk.dim(olderLine("search", group, rest, options, oldest.seq)));
    return lines;
  }

  private async send(group: string, text: string, signal: AbortSignal): Promise<Lines> {
    const id = uuidv7();
    this.sent.add(id);
    try {
      const r = await this.client.send(group, text, id, { signal });
      return chalk.dim(`sent #${r.seq}`);
    } finally {
      // Keep the id only while its live copy can still arrive.
      setTimeout(() => this.sent.delete(id), 60_000).unref();
    }
  }
}

/** What the shell says when Ctrl-C cancelled a command; for a message, whether it may be stored. */
function cancelledText(command: string, args: readonly string[], err: CancelledError): string {
  if (command !== "send_message") return "cancelled";
  if (!err.sent) return "cancelled: the message was not sent";
  return (
    "cancelled: the message may or may not have been stored; " +
    `get_messages ${args[0] ?? ""} shows whether it was (sending it again makes a second copy)`
  );
}
