import { Command, Flags, type Interfaces } from "@oclif/core";
import { UsageError } from "../protocol/errors.js";
import { displayName } from "../protocol/validate.js";
import type { GmClient } from "../user/client.js";
import { Profile } from "../user/profile.js";
import { DEFAULT_SERVER, requestPolicy } from "../util/config.js";
import { fail } from "./errors.js";
import { directoryKey, INSECURE_WARNING, insecureFlag, serverKeyFlag } from "./keys.js";

/** A user's keys and the directory's public key: what CURVE towards the directory needs. */
export interface DirectoryAccess {
  readonly keys: Profile["keys"];
  readonly serverKey: string;
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
      description: `directory (message server) endpoint, remembered in the profile once it answered [default: $GM_SERVER, the profile's, or ${DEFAULT_SERVER}]`,
      helpGroup: "GLOBAL",
    }),
    profile: Flags.string({
      description: "profile to act as: several users can share one machine [default: $GM_PROFILE or default]",
      helpGroup: "GLOBAL",
    }),
    "display-name": Flags.string({
      description: "set this profile's display name (remembered)",
      helpGroup: "GLOBAL",
    }),
    json: Flags.boolean({ description: "print machine-readable JSON", helpGroup: "GLOBAL" }),
    "server-key": serverKeyFlag(),
    insecure: insecureFlag(),
  };

  protected flags!: UserFlags<T>;
  private client: GmClient | undefined;
  /** A directory key given now, to pin in the profile once the directory answered to it. */
  private pin: { server: string; key: string } | undefined;

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

  protected profile(): Profile {
    const profile = Profile.load(this.flags.profile ?? process.env.GM_PROFILE ?? "default");
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

  /** The user's client, created on first use (loading ZeroMQ only when needed). */
  protected async connect(live = false): Promise<GmClient> {
    if (this.client !== undefined) return this.client;
    const loading = import("../user/client.js");
    const policy = requestPolicy();
    const { profile, server, security } = await this.directoryAccess();
    const { GmClient } = await loading;
    this.client = new GmClient(profile, { server, live, ...policy, ...(security && { security }) });
    return this.client;
  }

  /**
   * The profile, the directory's endpoint (--server, GM_SERVER, the profile's, the default) and
   * CURVE towards it (the profile's keys and the directory's key; none with --insecure).
   */
  protected async directoryAccess(): Promise<{ profile: Profile; server: string; security?: DirectoryAccess }> {
    const { connectEndpoint } = await import("../net/endpoint.js");
    const profile = this.profile();
    const server = connectEndpoint(this.flags.server ?? process.env.GM_SERVER ?? profile.data.server ?? DEFAULT_SERVER);
    const insecure = this.flags.insecure || process.env.GM_INSECURE === "1";
    if (insecure) {
      this.logToStderr(INSECURE_WARNING);
      return { profile, server };
    }
    const pinned = profile.data.serverKeys?.[server];
    const found = directoryKey(server, { flag: this.flags["server-key"], pinned });
    // Given once, remembered once the directory has answered to it: later commands need
    // neither the flag nor the variable.
    if (found.source === "given" && found.key !== pinned) this.pin = { server, key: found.key };
    return { profile, server, security: { keys: profile.keys, serverKey: found.key } };
  }

  protected json(value: unknown): void {
    this.log(JSON.stringify(value, null, 2));
  }

  protected override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    await this.client?.close();
    this.client = undefined;
    if ("oclif" in err || err.name === "ExitError") return super.catch(err);
    return fail(this, err);
  }

  protected override async finally(err: Error | undefined): Promise<unknown> {
    // What was given and worked is remembered: the directory (--server) and its key.
    const pin = this.pin;
    const client = this.client;
    if (client?.directoryAnswered === true) {
      const server = this.flags.server === undefined ? undefined : client.server;
      if (pin !== undefined || (server !== undefined && server !== client.profile.data.server)) {
        client.profile.update((d) => {
          if (pin !== undefined) d.serverKeys = { ...d.serverKeys, [pin.server]: pin.key };
          if (server !== undefined) d.server = server;
        });
      }
    }
    await this.client?.close();
    return super.finally(err);
  }
}
