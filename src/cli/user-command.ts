import { Command, Flags, type Interfaces } from "@oclif/core";
import chalk from "chalk";
import { UsageError } from "../protocol/errors.js";
import { displayName } from "../protocol/validate.js";
import type { GmClient } from "../user/client.js";
import { Profile } from "../user/profile.js";
import { DEFAULT_SERVER, requestPolicy } from "../util/config.js";
import { printable, printableJson } from "../util/printable.js";
import { fail } from "./errors.js";
import { directoryKey, INSECURE_WARNING, insecureFlag, serverKeyFlag } from "./keys.js";

/** Where a command's message server came from, highest precedence first. */
export type ServerSource = "argument" | "--server" | "GM_SERVER" | "profile" | "default";

/** A user's keys and the directory's public key: what CURVE towards the directory needs. */
export interface DirectoryAccess {
  readonly keys: Profile["keys"];
  readonly serverKey: string | UsageError;
}

export type UserFlags<T extends typeof Command> = Interfaces.InferredFlags<
  (typeof UserCommand)["baseFlags"] & T["flags"]
>;

/**
 * Base of every `gm user` command: the profile, the directory endpoint, --json, and one client
 * that is always closed, so a one-shot command exits as soon as it is done.
 */
export abstract class UserCommand<T extends typeof Command> extends Command {
  static override baseFlags = {
    server: Flags.string({
      description: `message server (directory) endpoint, remembered in the profile once it answered (as \`gm user login\` does) [default: $GM_SERVER, else the profile's, else ${DEFAULT_SERVER}]`,
      helpGroup: "GLOBAL",
    }),
    profile: Flags.string({
      description: "profile to act as: several users can share one machine [default: $GM_PROFILE or default]",
      helpGroup: "GLOBAL",
    }),
    "display-name": Flags.string({
      description: "set this profile's display name (remembered, and carried to every joined group at once)",
      helpGroup: "GLOBAL",
    }),
    json: Flags.boolean({ description: "print machine-readable JSON", helpGroup: "GLOBAL" }),
    "server-key": serverKeyFlag(),
    insecure: insecureFlag(),
  };

  protected flags!: UserFlags<T>;
  private client: GmClient | undefined;
  private loaded: Profile | undefined;
  /** A directory key given now, to pin in the profile once the directory answered to it. */
  private pin: { server: string; key: string } | undefined;
  /** The message server this command was told to use in its own way (`gm user login <endpoint>`). */
  private given: string | undefined;
  /** The display name given now, to carry to every joined group (once, see spreadName). */
  private renaming: Promise<void> | undefined;

  override async init(): Promise<void> {
    await super.init();
    const { flags } = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (this.ctor as typeof UserCommand).baseFlags,
      args: this.ctor.args,
      strict: this.ctor.strict,
    });
    this.flags = flags as UserFlags<T>;
  }

  /** The user's profile, loaded once (and renamed once, with --display-name). */
  protected profile(): Profile {
    if (this.loaded !== undefined) return this.loaded;
    const profile = Profile.load(this.flags.profile ?? process.env.GM_PROFILE ?? "default");
    this.loaded = profile;
    const name = this.flags["display-name"];
    if (name !== undefined) {
      // The server's own check (src/protocol/validate.ts), so what the CLI takes the server takes.
      const flag = "--display-name";
      const checked = UsageError.check(() => displayName({ [flag]: name.trim() }, flag));
      profile.update((d) => {
        d.name = checked;
      });
    }
    return profile;
  }

  /** Uses `endpoint` as the message server, ahead of --server, GM_SERVER and the profile's (`login`). */
  protected useServer(endpoint: string): void {
    this.given = endpoint;
  }

  /** The message server and where it came from: precedence login/--server > GM_SERVER > profile > default. */
  protected server(): { endpoint: string; source: ServerSource } {
    const flag = this.given ?? this.flags.server;
    if (flag !== undefined) return { endpoint: flag, source: this.given === undefined ? "--server" : "argument" };
    const env = process.env.GM_SERVER;
    if (env) return { endpoint: env, source: "GM_SERVER" };
    const saved = this.profile().data.server;
    if (saved !== undefined) return { endpoint: saved, source: "profile" };
    return { endpoint: DEFAULT_SERVER, source: "default" };
  }

  /**
   * The user's client, created on first use (loading ZeroMQ only when needed). `live`: it follows
   * groups. `directory: false`: the command may not need the message server, so a missing key for
   * it fails only a request to it, not the command.
   */
  protected async connect(live = false, options: { directory?: boolean } = {}): Promise<GmClient> {
    if (this.client !== undefined) return this.client;
    const loading = import("../user/client.js");
    const policy = requestPolicy();
    const { profile, server, security } = await this.directoryAccess(options);
    const { GmClient } = await loading;
    this.client = new GmClient(profile, { server, live, ...policy, ...(security && { security }) });
    return this.client;
  }

  /**
   * The profile, the directory's endpoint (--server, GM_SERVER, the profile's, the default) and
   * CURVE towards it (the profile's keys and the directory's key; none with --insecure). With
   * `directory: false`, a directory key that cannot be found is returned as its error instead of
   * thrown, for a command that may not need the directory.
   */
  protected async directoryAccess(
    options: { directory?: boolean } = {},
  ): Promise<{ profile: Profile; server: string; security?: DirectoryAccess }> {
    const { connectEndpoint } = await import("../net/endpoint.js");
    const profile = this.profile();
    const server = connectEndpoint(this.server().endpoint);
    const insecure = this.flags.insecure || process.env.GM_INSECURE === "1";
    if (insecure) {
      this.logToStderr(INSECURE_WARNING);
      return { profile, server };
    }
    const pinned = profile.data.serverKeys?.[server];
    let serverKey: string | UsageError;
    try {
      const found = directoryKey(server, { flag: this.flags["server-key"], pinned });
      // Given once, remembered once the directory has answered to it: later commands need
      // neither the flag nor the variable.
      if (found.source === "given" && found.key !== pinned) this.pin = { server, key: found.key };
      serverKey = found.key;
    } catch (err) {
      if (options.directory !== false || !(err instanceof UsageError)) throw err;
      serverKey = err;
    }
    return { profile, server, security: { keys: profile.keys, serverKey } };
  }

  /**
   * With --display-name: carries the name to every joined group now (a repeated JOIN each), and
   * says on stderr where it could not, without failing the command. Started at most once; the
   * shell starts it at once, other commands once they are done (a JOIN racing their own LEAVE
   * could otherwise join again).
   */
  protected spreadName(): Promise<void> {
    if (this.flags["display-name"] === undefined) return Promise.resolve();
    this.renaming ??= (async () => {
      const client = await this.connect(false, { directory: false });
      const { renamed, failed } = await client.renameEverywhere();
      const name = printable(client.profile.data.name);
      if (renamed.length > 0 && !this.flags.json) {
        this.logToStderr(`Your name "${name}" now shows in ${renamed.map((g) => printable(g)).join(", ")}`);
      }
      for (const { group, error } of failed) {
        this.logToStderr(
          chalk.yellow(
            `warning: could not give ${printable(group)} your new name now (${printable(error.message)}); ` +
              "it goes with your next message there",
          ),
        );
      }
    })();
    return this.renaming;
  }

  protected json(value: unknown): void {
    this.log(printableJson(value, 2));
  }

  protected override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    await this.client?.close();
    this.client = undefined;
    if ("oclif" in err || err.name === "ExitError") return super.catch(err);
    return fail(this, err, { json: this.flags?.json === true, userFlags: this.givenFlags() });
  }

  /**
   * The flags that say who acts and where (--profile, --server, --insecure) as the user gave them,
   * so that a hint's command (`gm user join general --profile bob`) acts as this one did.
   */
  protected givenFlags(): string[] {
    const f = this.flags as Partial<UserFlags<T>> | undefined;
    return [
      ...(f?.profile !== undefined ? ["--profile", f.profile] : []),
      ...(f?.server !== undefined ? ["--server", f.server] : []),
      ...(f?.insecure === true ? ["--insecure"] : []),
    ];
  }

  /**
   * Remembers what was given and worked: the message server (--server, `login`) and its key, once
   * the directory has answered. Returns whether the profile now has this client's server.
   */
  protected remember(): boolean {
    const pin = this.pin;
    const client = this.client;
    if (client?.directoryAnswered !== true) return false;
    const server = (this.given ?? this.flags.server) === undefined ? undefined : client.server;
    if (pin !== undefined || (server !== undefined && server !== client.profile.data.server)) {
      client.profile.update((d) => {
        if (pin !== undefined) d.serverKeys = { ...d.serverKeys, [pin.server]: pin.key };
        if (server !== undefined) d.server = server;
      });
      this.pin = undefined;
    }
    return client.profile.data.server === client.server;
  }

  protected override async finally(err: Error | undefined): Promise<unknown> {
    try {
      if (err === undefined) await this.spreadName();
    } catch (e) {
      this.logToStderr(chalk.yellow(`warning: ${printable(e instanceof Error ? e.message : String(e))}`));
    }
    this.remember();
    await this.client?.close();
    return super.finally(err);
  }
}
