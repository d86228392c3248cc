import { clearLine, createInterface, cursorTo, type Interface } from "node:readline";
import chalk from "chalk";
import { v7 as uuidv7 } from "uuid";
import { printable } from "../util/printable.js";
import { parseTimestamp } from "../util/timestamp.js";
import type { GmClient } from "./client.js";
import { Follower } from "./follower.js";
import {
  FINGERPRINT_INVITE_WARNING,
  failureText,
  formatFeedEvent,
  formatGroups,
  formatJoined,
  formatMembers,
  formatMessage,
} from "./format.js";
import { splitWords } from "./words.js";

export const SHELL_HELP = [
  "list_groups                          list the groups registered with the message server",
  "join_group <group_name>              join a group",
  "show_groups                          show the groups you have joined",
  "show_members <group_name>            list a group's members and who is online",
  "leave_group <group_name>             leave a group",
  "get_messages <group_name> [<time>]   show messages, all or since <time>",
  "                                     (2026-11-25T10:30:00Z, 10:30, 15m, 2h, 1d, epoch ms)",
  "send_message <group_name> <message>  send a message (quote it or not)",
  "remove_member <group_name> <member>  remove a member of a group you own",
  "bar_member <group_name> <member>     remove a member and bar their key from joining again",
  "unbar_member <group_name> <member>   let a barred key join again",
  "invite <group_name> <user>           invite a user to a group you own",
  "invite_only <group_name> on|off      let only invited users join, or everyone",
  "                                     (<member>, <user>: public key, user id or fingerprint)",
  "help                                 show this help",
  "exit                                 leave the shell (or Ctrl-D)",
];

interface Command {
  readonly usage: string;
  readonly min: number;
  readonly max: number;
  run(args: string[]): Promise<void> | void;
}

export interface ShellOptions {
  readonly input: NodeJS.ReadableStream;
  readonly output: NodeJS.WritableStream;
  /** Show a prompt and edit lines (a terminal); otherwise read commands line by line. */
  readonly interactive: boolean;
}

/**
 * The interactive mode: the original commands over the same client as the one-shot commands.
 * A bad line prints one error and the shell goes on.
 */
export class Shell {
  private readonly commands: Record<string, Command>;
  private rl: Interface | undefined;
  /** Set once the shell has ended: a follow still starting then fails silently (its client closed). */
  private ended = false;
  /** Ids of messages this shell sent: their live copies are not printed again. */
  private readonly sent = new Set<string>();
  /** Follows every joined group live, also those joined or left from other processes. */
  private readonly follower: Follower;
  failures = 0;

  constructor(
    private readonly client: GmClient,
    private readonly options: ShellOptions,
  ) {
    this.commands = {
      list_groups: { usage: "list_groups", min: 0, max: 0, run: () => this.listGroups() },
      join_group: { usage: "join_group <group_name>", min: 1, max: 1, run: ([g]) => this.join(g as string) },
      show_groups: { usage: "show_groups", min: 0, max: 0, run: () => this.print(formatJoined(this.client.groups())) },
      leave_group: { usage: "leave_group <group_name>", min: 1, max: 1, run: ([g]) => this.leave(g as string) },
      show_members: {
        usage: "show_members <group_name>",
        min: 1,
        max: 1,
        run: async ([g]) => this.print(formatMembers(await this.client.members(g as string), this.client.user)),
      },
      get_messages: {
        usage: "get_messages <group_name> [<timestamp>]",
        min: 1,
        max: 2,
        run: ([g, t]) => this.messages(g as string, t),
      },
      send_message: {
        usage: "send_message <group_name> <message>",
        min: 2,
        max: Number.POSITIVE_INFINITY,
        run: ([g, ...words]) => this.send(g as string, words.join(" ")),
      },
      remove_member: {
        usage: "remove_member <group_name> <member>",
        min: 2,
        max: 2,
        run: ([g, m]) => this.remove(g as string, m as string, false),
      },
      bar_member: {
        usage: "bar_member <group_name> <member>",
        min: 2,
        max: 2,
        run: ([g, m]) => this.remove(g as string, m as string, true),
      },
      unbar_member: {
        usage: "unbar_member <group_name> <member>",
        min: 2,
        max: 2,
        run: ([g, m]) => this.unbar(g as string, m as string),
      },
      invite: {
        usage: "invite <group_name> <user>",
        min: 2,
        max: 2,
        run: ([g, u]) => this.invite(g as string, u as string),
      },
      invite_only: {
        usage: "invite_only <group_name> on|off",
        min: 2,
        max: 2,
        run: ([g, state]) => this.inviteOnly(g as string, state as string),
      },
      help: { usage: "help", min: 0, max: 0, run: () => this.print(SHELL_HELP) },
    };
    this.follower = new Follower(client, {
      since: Date.now(),
      onMessage: (group, m) => {
        if (!this.sent.delete(m.id)) this.printLive(formatMessage(m, undefined, group));
      },
      onEvent: (event) => this.printLive(chalk.yellow(formatFeedEvent(event))),
      onError: (group, err) => {
        if (!this.ended) this.printLive(chalk.yellow(printable(`not following "${group}" live: ${err.message}`)));
      },
      onJoined: (group) => this.printLive(chalk.dim(printable(`now following "${group}"`))),
    });
  }

  private print(lines: string | readonly string[]): void {
    for (const line of typeof lines === "string" ? [lines] : lines) this.options.output.write(`${line}\n`);
  }

  /** Reads and runs commands until `exit` or end of input. */
  async run(): Promise<void> {
    const rl = createInterface({
      input: this.options.input,
      output: this.options.output,
      terminal: this.options.interactive,
      prompt: chalk.green("gm> "),
    });
    this.rl = rl;
    if (this.options.interactive) {
      this.print(
        chalk.dim(`gm shell as ${this.client.profile.data.name}; type help for the commands, exit or Ctrl-D to leave.`),
      );
      rl.prompt();
    }
    // Groups joined before the shell started (e.g. with `gm user join`) are followed too, and those
    // joined or left from another process while it runs; in the background, so a group server that
    // does not answer does not hold up the prompt.
    void this.follower.followAll();
    try {
      for await (const line of rl) {
        if (!(await this.execute(line))) break;
        if (this.options.interactive) rl.prompt();
      }
    } finally {
      this.ended = true;
      this.follower.stop();
      this.rl = undefined;
      rl.close();
    }
  }

  /** Runs one line; false means the shell should end. */
  async execute(line: string): Promise<boolean> {
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
    const command = Object.hasOwn(this.commands, name) ? this.commands[name] : undefined;
    if (command === undefined) {
      this.error(`unknown command "${name}"; type help for the list`);
      return true;
    }
    if (args.length < command.min || args.length > command.max) {
      this.error(`usage: ${command.usage}`);
      return true;
    }
    try {
      await command.run(args);
    } catch (err) {
      // In gm's words where the one-shot commands have some (a full disk: the message was not stored).
      this.error(failureText(err, name === "send_message" ? "user:send" : `shell:${name}`));
    }
    return true;
  }

  /** Prints a line that arrived on its own, keeping the line being typed intact below it. */
  private printLive(line: string): void {
    const rl = this.rl;
    if (rl === undefined || !this.options.interactive) {
      this.print(line);
      return;
    }
    clearLine(this.options.output, 0);
    cursorTo(this.options.output, 0);
    this.print(line);
    rl.prompt(true);
  }

  private error(message: string): void {
    this.failures++;
    this.print(chalk.red(`error: ${printable(message)}`));
  }

  private async listGroups(): Promise<void> {
    this.print(formatGroups(await this.client.listGroups()));
  }

  private async join(group: string): Promise<void> {
    const r = await this.client.join(group);
    await this.follower.add(r.group);
    this.print(
      `${r.joined ? "Joined" : "Already a member of"} ${chalk.cyan(group)} (${r.members} member${r.members === 1 ? "" : "s"})`,
    );
  }

  private async leave(group: string): Promise<void> {
    await this.client.leave(group);
    this.print(`Left ${chalk.cyan(group)}`);
  }

  private async remove(group: string, member: string, bar: boolean): Promise<void> {
    const r = await this.client.remove(group, member, bar);
    const what = r.left ? "Removed" : "Did not remove (not a member)";
    this.print(`${what} ${r.member} from ${chalk.cyan(group)}${r.barred ? "; barred from joining again" : ""}`);
  }

  private async unbar(group: string, member: string): Promise<void> {
    const r = await this.client.unbar(group, member);
    this.print(`${r.unbarred ? "Unbarred" : "Was not barred:"} ${r.member} in ${chalk.cyan(group)}`);
  }

  private async invite(group: string, user: string): Promise<void> {
    const r = await this.client.invite(group, user);
    if (!r.invitee.includes("-")) this.print(chalk.yellow(`warning: ${FINGERPRINT_INVITE_WARNING}`));
    this.print(`${r.invited ? "Invited" : "Already invited:"} ${r.invitee} to ${chalk.cyan(group)}`);
  }

  private async inviteOnly(group: string, state: string): Promise<void> {
    if (state !== "on" && state !== "off") throw new Error("usage: invite_only <group_name> on|off");
    const r = await this.client.setInviteOnly(group, state === "on");
    this.print(`${chalk.cyan(group)} is ${r.inviteOnly ? "invite-only" : "open to all"}`);
  }

  private async messages(group: string, time: string | undefined): Promise<void> {
    const since = time === undefined ? undefined : parseTimestamp(time);
    const messages = await this.client.messages(group, since === undefined ? {} : { since });
    if (messages.length === 0) this.print(chalk.dim("No messages."));
    this.print(messages.map((m) => formatMessage(m)));
  }

  private async send(group: string, text: string): Promise<void> {
    const id = uuidv7();
    this.sent.add(id);
    try {
      const r = await this.client.send(group, text, id);
      this.print(chalk.dim(`sent #${r.seq}`));
    } finally {
      // Keep the id only while its live copy can still arrive.
      setTimeout(() => this.sent.delete(id), 60_000).unref();
    }
  }
}
