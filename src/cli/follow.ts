import type { Command } from "@oclif/core";
import { UsageError } from "../protocol/errors.js";
import { groupName } from "../protocol/validate.js";
import type { GmClient } from "../user/client.js";
import { Follower } from "../user/follower.js";
import { failureText, formatFeedEvent, formatMessage, messageJson } from "../user/format.js";
import { printable, printableJson } from "../util/printable.js";
import { untilSignal } from "./signals.js";

export interface FollowGroupsOptions {
  /** The groups to follow, or "all": every joined group, and those joined while it runs. */
  readonly groups: readonly string[] | "all";
  /** History to print first (none: new messages only, from now). */
  readonly since?: number;
  readonly limit?: number;
  readonly json: boolean;
}

const quoted = (groups: readonly string[]) => groups.map((g) => `"${g}"`).join(", ");

/**
 * `gm user follow` and `gm user messages --follow` with several groups: every message of the
 * groups, prefixed by its group (or, in JSON, one object per line with a `group` field), until
 * SIGINT or SIGTERM (resolves: exit 0). What the feeds report goes to stderr. Named groups that
 * all end (left from elsewhere) or cannot be followed at all make it throw the last reason.
 */
export async function followGroups(command: Command, client: GmClient, options: FollowGroupsOptions): Promise<void> {
  if (options.groups !== "all") for (const group of options.groups) UsageError.check(() => groupName({ group }));
  const signal = untilSignal();
  const note = (line: string) => command.logToStderr(printable(line));
  let finish: (reason: Error) => void = () => {};
  const finished = new Promise<Error>((resolve) => {
    finish = resolve;
  });
  let last: Error | undefined;
  let started = false;
  const failed: string[] = [];
  const named = options.groups !== "all";
  const follower: Follower = new Follower(client, {
    ...(options.since !== undefined && { since: options.since }),
    ...(options.limit !== undefined && { limit: options.limit }),
    onMessage: (group, m) => {
      command.log(options.json ? printableJson({ group, ...messageJson(m) }) : formatMessage(m, undefined, group));
      client.markRead(group, m.seq);
    },
    onEvent: (event) => {
      command.logToStderr(formatFeedEvent(event));
      if (event.type !== "ended") return;
      last = event.reason;
      if (named && started && follower.groups.length === 0) finish(event.reason);
    },
    onError: (group, error) => {
      last = error;
      // Before the start, kept: if no group could be followed, the error alone is the message.
      failed.push(`not following "${group}": ${failureText(error)}`);
      if (started) for (const line of failed.splice(0)) note(line);
    },
    onJoined: (group) => note(`now following "${group}"`),
  });
  try {
    if (options.groups === "all") await follower.followAll();
    else await follower.follow(options.groups);
    started = true;
    const groups = follower.groups;
    if (groups.length > 0 || !named) for (const line of failed.splice(0)) note(line);
    if (groups.length > 0) {
      note(`following ${quoted(groups)}${named ? "" : " and the groups you join"}; Ctrl-C to stop`);
    } else if (named) {
      throw last ?? new Error("no group to follow");
    } else {
      note("you have not joined any group yet; the groups you join (gm user join <group>) are followed from then on");
    }
    const ended = await Promise.race([signal.then(() => undefined), finished]);
    if (ended !== undefined) throw ended;
  } finally {
    follower.stop();
  }
}
