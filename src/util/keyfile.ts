/**
 * Key files: a CURVE keypair kept on disk, readable by its owner alone (0600), made on first use.
 *
 * ```
 * # gm CURVE keypair of <what>: keep this file secret; back it up to keep this identity
 * public = <40 characters of Z85>
 * secret = <40 characters of Z85>
 * ```
 *
 * Beside it, `<name>.pub` holds the public key alone (0644), for giving to others.
 */
import { chmodSync, linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { KeyFileError } from "../protocol/errors.js";
import { isKey, type KeyPair, newKeyPair, publicKeyOf } from "../protocol/keys.js";

/** The public key file that goes with a key file. */
export function publicKeyFile(file: string): string {
  return file.replace(/\.key$/, "") + ".pub";
}

/** Reads a keypair from `file`; undefined if the file does not exist. */
export function readKeyFile(file: string): KeyPair | undefined {
  let text: string;
  try {
    const mode = statSync(file).mode;
    if ((mode & 0o077) !== 0) {
      throw new KeyFileError(
        file,
        `key file ${file} is readable by other users (mode ${(mode & 0o777).toString(8)}): ` +
          `run "chmod 600 ${file}" (and consider the key leaked if others could read it)`,
      );
    }
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    if (err instanceof KeyFileError) throw err;
    throw new KeyFileError(file, `cannot read key file ${file}: ${(err as Error).message}`, { cause: err });
  }
  const field = (name: string) => new RegExp(`^${name}\\s*=\\s*(\\S{40})\\s*$`, "m").exec(text)?.[1];
  const publicKey = field("public");
  const secretKey = field("secret");
  if (!isKey(secretKey) || !isKey(publicKey) || publicKeyOf(secretKey) !== publicKey) {
    throw new KeyFileError(
      file,
      `key file ${file} is not a gm keypair (lines "public = <key>" and "secret = <key>" that belong together)`,
    );
  }
  return { publicKey, secretKey };
}

/** Reads the keypair in `file`, or makes one and writes it there (0600; its directory 0700). */
export function loadOrCreateKeyFile(file: string, what: string): KeyPair {
  const existing = readKeyFile(file);
  if (existing !== undefined) {
    // The .pub is what people hand out: keep it the public half of this key, whatever became of it.
    const pub = publicKeyFile(file);
    let written: string | undefined;
    try {
      written = readFileSync(pub, "utf8").trim();
    } catch {
      written = undefined;
    }
    if (written !== existing.publicKey) {
      try {
        writeFileSync(pub, `${existing.publicKey}\n`, { mode: 0o644 });
      } catch {
        // A read-only directory: the key itself is fine.
      }
    }
    return existing;
  }
  const pair = newKeyPair();
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(
    tmp,
    `# gm CURVE keypair of ${what}: keep this file secret; back it up to keep this identity\n` +
      `public = ${pair.publicKey}\nsecret = ${pair.secretKey}\n`,
    { mode: 0o600, flag: "wx" },
  );
  chmodSync(tmp, 0o600); // whatever the umask
  try {
    // A link never replaces a file: if another process made the key first, we use that one.
    linkSync(tmp, file);
    writeFileSync(publicKeyFile(file), `${pair.publicKey}\n`, { mode: 0o644 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  } finally {
    unlinkSync(tmp);
  }
  return readKeyFile(file) as KeyPair;
}
