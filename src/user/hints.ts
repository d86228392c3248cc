/**
 * What the user can do about a failure, said in the words of where it shows: the library names
 * the remedy (join the group, list the groups, read the history), and each front end words it as
 * its own command: the CLI as `gm user join general --profile bob`, the shell as `join_group
 * general`. So a hint never tells a shell user to type a CLI command, or a CLI user a shell one.
 */

/** A step that helps, as the library knows it. */
export type Remedy =
  | { readonly action: "join"; readonly group: string }
  | { readonly action: "list-groups" }
  | { readonly action: "messages"; readonly group: string }
  /** Forget a group without its server (`leave --force`, which the shell does not have). */
  | { readonly action: "forget"; readonly group: string };

/** Why the remedy helps (`join it first`), and the remedy. */
export interface Hint {
  readonly advice: string;
  readonly remedy: Remedy;
}

const hints = new WeakMap<object, Hint>();

/** `err`, carrying `hint` (the error itself is unchanged: its message says what went wrong). */
export function withHint<E extends Error>(err: E, hint: Hint): E {
  hints.set(err, hint);
  return err;
}

/** The hint a failure carries, if any. */
export function hintOf(err: unknown): Hint | undefined {
  return typeof err === "object" && err !== null ? hints.get(err) : undefined;
}

/** The remedy as a shell command (src/user/shell.ts). */
export function shellRemedy(remedy: Remedy): string {
  switch (remedy.action) {
    case "join":
      return `join_group ${remedy.group}`;
    case "list-groups":
      return "list_groups";
    case "messages":
      return `get_messages ${remedy.group}`;
    case "forget":
      return `outside the shell, gm user leave ${remedy.group} --force`;
  }
}

/** The remedy as the words of a `gm user` command after `gm user` (the CLI adds the rest). */
export function cliRemedy(remedy: Remedy): string[] {
  switch (remedy.action) {
    case "join":
      return ["join", remedy.group];
    case "list-groups":
      return ["list-groups"];
    case "messages":
      return ["messages", remedy.group];
    case "forget":
      return ["leave", remedy.group, "--force"];
  }
}
