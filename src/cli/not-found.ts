/**
 * "Did you mean": oclif's @oclif/plugin-not-found, run as gm's own `command_not_found` hook so that
 * what it says comes out in gm's error style. On a terminal it asks `Did you mean user?` and, on a
 * yes, runs the suggestion; otherwise (or on a no) the failure is reported as `Error: usr is not a
 * gm command.` with the plugin's pointer to `gm help` as the hint, exit 127 (as a shell's for a
 * command it does not know).
 */
import { stripVTControlCharacters as plain } from "node:util";
import type { Hook, Interfaces } from "@oclif/core";
import { LocalErrorCode } from "../protocol/errors.js";
import { CliFailure } from "./errors.js";

export const commandNotFound: Hook.CommandNotFound = async function (options) {
  // Loaded only for a mistyped command: the plugin brings a prompt library.
  const { default: suggest } = await import("@oclif/plugin-not-found");
  const config = withTopics(this.config);
  // oclif's id holds every word before the first flag (`user:sned:general:hi`), and the plugin
  // would match all of them against the commands: only as many words as a command has are its
  // name, the rest are its arguments (run with it if the suggestion is taken).
  const depth = Math.max(...config.commandIDs.map((id) => id.split(":").length));
  const words = options.id.split(":");
  const id = words.slice(0, depth).join(":");
  const argv = [...words.slice(depth), ...(options.argv ?? [])];
  // The plugin warns (what was wrong) and then errors (what to do): one failure, said once.
  let said = `${id.split(":").join(" ")} is not a ${config.bin} command.`;
  const context: Hook.Context = {
    ...this,
    config,
    warn: (message) => {
      said = plain(message);
    },
    error: (message, opts) => {
      const hint = plain(typeof message === "string" ? message : message.message);
      throw new CliFailure(said, { exit: opts?.exit ?? 127, code: LocalErrorCode.Usage, hint });
    },
  };
  return suggest.call(context, { ...options, id, argv, config });
};

/**
 * The plugin suggests among command ids only, so `gm usr` would get `up`: this view of the config
 * offers the topics too (`user`), and runs a topic that was accepted as its help.
 */
function withTopics(config: Interfaces.Config): Interfaces.Config {
  const ids = new Set(config.commandIDs);
  const topics = config.topics.map((t) => t.name).filter((name) => !ids.has(name));
  return Object.create(config, {
    commandIDs: { value: [...ids, ...topics] },
    runCommand: {
      value: (id: string, argv: string[] = []) =>
        config.findCommand(id) === undefined && config.findTopic(id) !== undefined
          ? config.runCommand("help", [...id.split(":"), ...argv])
          : config.runCommand(id, argv),
    },
  }) as Interfaces.Config;
}
