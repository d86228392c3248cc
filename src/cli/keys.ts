/**
 * Keys without ceremony (README "Security"): each server keeps its keypair in its data dir, made on
 * first start; a server bound to this machine also leaves its public key under
 * `$GM_HOME/servers/`, where clients of the same GM_HOME find it, so `gm up` and `gm user …` on one
 * machine need no configuration. A client reaching another machine is given the directory's key
 * once (--server-key or GM_SERVER_KEY) and the profile pins it.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Flags } from "@oclif/core";
import { UsageError } from "../protocol/errors.js";
import { type Key, type KeyPair, parseKey } from "../protocol/keys.js";
import { gmHome } from "../util/config.js";
import { loadOrCreateKeyFile } from "../util/keyfile.js";

/** `--insecure`: plain text, no keys, requests taken on trust. */
export const insecureFlag = () =>
  Flags.boolean({
    description:
      "no encryption or authentication (plain-text ZeroMQ, requests taken on trust): only for compatibility and measurement",
    helpGroup: "SECURITY",
  });

/** `--server-key`: the directory's public key, for a directory on another machine. */
export const serverKeyFlag = (pinned = true) =>
  Flags.string({
    description: `the message server's public key (Z85 or hex; it prints it when it starts) [default: $GM_SERVER_KEY, ${
      pinned ? "the one pinned in the profile, " : ""
    }or the local server's]`,
    helpGroup: "SECURITY",
  });

/** `--deny-key`: keys the server's ZAP handler refuses at the handshake. */
export const denyKeyFlag = () =>
  Flags.string({
    description: "refuse connections from this public key at the CURVE handshake (repeat for several)",
    multiple: true,
    // One value per --deny-key, so a word after it is an argument (`gm group`'s ADDRESS).
    multipleNonGreedy: true,
    helpGroup: "SECURITY",
  });

/** The keys of --deny-key, checked. */
export function deniedKeys(values: readonly string[] | undefined): Key[] {
  return (values ?? []).map((k) => UsageError.check(() => parseKey(k, "--deny-key")));
}

export const INSECURE_WARNING =
  "warning: --insecure: traffic is plain text and requests are not authenticated; anyone who can reach these ports can read everything and act as anyone";

/** The keypair a server keeps in its data dir (`directory.key`, `group.key`), made on first start. */
export function serverKeyPair(dataDir: string, role: "directory" | "group"): KeyPair {
  return loadOrCreateKeyFile(join(dataDir, `${role}.key`), `the gm ${role} whose data dir is ${dataDir}`);
}

const LOOPBACK = /^tcp:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\]|\*|0\.0\.0\.0|\[::\]):(\d+)$/;

function localKeyFile(port: string, home: string): string {
  return join(home, "servers", `port-${port}.pub`);
}

/**
 * Leaves a server's public key where local clients find it, if it listens on this machine's
 * loopback (or every address). Best effort: a read-only GM_HOME only costs the convenience.
 */
export function announceLocally(bound: string, key: Key, home = gmHome()): void {
  const port = LOOPBACK.exec(bound)?.[2];
  if (port === undefined) return;
  try {
    mkdirSync(join(home, "servers"), { recursive: true, mode: 0o700 });
    writeFileSync(localKeyFile(port, home), `${key}\n`, { mode: 0o644 });
  } catch {
    // Clients then need --server-key.
  }
}

/** The key a local server left for `endpoint` (loopback endpoints only). */
export function locallyAnnounced(endpoint: string, home = gmHome()): Key | undefined {
  const m = LOOPBACK.exec(endpoint);
  if (m === null || m[1] === "*" || m[1] === "0.0.0.0" || m[1] === "[::]") return undefined;
  try {
    return parseKey(readFileSync(localKeyFile(m[2] as string, home), "utf8"));
  } catch {
    return undefined;
  }
}

/** Where the directory's key came from: given now (to pin), pinned earlier, or found locally. */
export interface DirectoryKey {
  readonly key: Key;
  readonly source: "given" | "pinned" | "local";
}

/**
 * The directory's public key for a client of `endpoint`: --server-key, else GM_SERVER_KEY, else the
 * key pinned for it, else the one a local server left. Throws a UsageError that says how to give it.
 */
export function directoryKey(
  endpoint: string,
  options: {
    flag?: string | undefined;
    env?: NodeJS.ProcessEnv;
    pinned?: Key | undefined;
    home?: string;
    /** Whether a given key is remembered (a user's profile pins it; a group server does not). */
    pins?: boolean;
  },
): DirectoryKey {
  const env = options.env ?? process.env;
  const given = options.flag ?? (env.GM_SERVER_KEY || undefined);
  if (given !== undefined) {
    const what = options.flag !== undefined ? "--server-key" : "GM_SERVER_KEY";
    return { key: UsageError.check(() => parseKey(given, what)), source: "given" };
  }
  if (options.pinned !== undefined) return { key: options.pinned, source: "pinned" };
  const local = locallyAnnounced(endpoint, options.home ?? gmHome(env));
  if (local !== undefined) return { key: local, source: "local" };
  const pins = options.pins ?? true;
  throw new UsageError(
    `no public key known for the message server at ${endpoint}: give it ${pins ? "once " : ""}with --server-key <key> or ` +
      `GM_SERVER_KEY (the server prints it when it starts${pins ? "; the profile remembers it" : ""}), or use --insecure ` +
      "if that server runs without encryption",
  );
}
