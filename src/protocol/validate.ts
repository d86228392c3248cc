/**
 * Field validation for request bodies. Each helper throws a GmError with a message that names
 * the field, so a client author sees exactly what was wrong.
 */
import { ErrorCode, Limits } from "./constants.js";
import { badRequest, GmError } from "./errors.js";

type Body = Record<string, unknown>;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/**
 * A uuid as RFC 9562 lays it out: version 1 to 8 and variant 10xx, or the nil or max uuid. Message
 * ids are stored as the 16 bytes of such a uuid, so a SEND id must be one (uuid's parse refuses
 * any other, which was a 500 INTERNAL).
 */
const RFC_UUID =
  /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}|0{8}-0{4}-0{4}-0{4}-0{12}|f{8}-f{4}-f{4}-f{4}-f{12})$/i;
/**
 * Nothing visible: white space, format characters (zero-width space and joiners, word joiner,
 * BOM, bidi controls, soft hyphen: Unicode Cf), the combining grapheme joiner, variation
 * selectors and the Hangul fillers. A text or display name made only of these shows as nothing.
 */
const INVISIBLE_ONLY = /^(?:[\s\p{Cf}\u115f\u1160\u17b4\u17b5\u3164\uffa0]|\u034f|[\u180b-\u180f]|[\ufe00-\ufe0f])*$/u;
/** Bidirectional formatting characters: marks, embeddings, overrides and isolates. */
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;
/** A lone surrogate: with the u flag a well-formed pair is one code point, so only lone halves match. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Refuses a string that is not well-formed Unicode (a lone surrogate, sent as the JSON escape
 * `\ud800`): it has no UTF-8 form, so it could not be stored as it was published (PROTOCOL.md §4).
 */
function wellFormed(v: string, key: string): string {
  if (LONE_SURROGATE.test(v)) throw badRequest(`"${key}" must be well-formed Unicode: it has a lone surrogate`);
  return v;
}

export function str(body: Body, key: string, max = 256): string {
  const v = body[key];
  if (typeof v !== "string" || v.length === 0) throw badRequest(`"${key}" must be a non-empty string`);
  wellFormed(v, key);
  // Counted in code points, so an emoji is one character as a user would count it.
  if (v.length > max && [...v].length > max) throw badRequest(`"${key}" is longer than ${max} characters`);
  return v;
}

export function optStr(body: Body, key: string, max = 256): string | undefined {
  return body[key] === undefined || body[key] === null ? undefined : str(body, key, max);
}

export function optInt(body: Body, key: string, min: number, max: number): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
    throw badRequest(`"${key}" must be an integer from ${min} to ${max}`);
  }
  return v === 0 ? 0 : v; // JSON's -0 is read as 0
}

/** A message id: a uuid laid out as RFC 9562 says (version 1-8, variant 10xx), or nil or max. */
export function messageId(body: Body, key = "id"): string {
  const v = uuid(body, key);
  if (!RFC_UUID.test(v)) {
    throw badRequest(`"${key}" must be an RFC 9562 uuid: version digit 1 to 8, variant digit 8, 9, a or b`);
  }
  return v;
}

export function uuid(body: Body, key: string): string {
  const v = body[key];
  if (typeof v !== "string" || !UUID.test(v)) throw badRequest(`"${key}" must be a UUID`);
  return v.toLowerCase();
}

export function optUuid(body: Body, key: string): string | undefined {
  return body[key] === undefined || body[key] === null ? undefined : uuid(body, key);
}

export function groupName(body: Body, key = "group"): string {
  const v = body[key];
  if (typeof v !== "string" || !Limits.groupName.test(v)) {
    throw badRequest(
      `"${key}" must be a group name: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  return v;
}

/**
 * What a group name is compared by (PROTOCOL.md §4): its ASCII case fold. Names keep the spelling
 * they were given, but `general` and `GENERAL` are one name, so a look-alike cannot pass for a
 * group (or squat its spelling) and one group has one store.
 */
export function groupNameKey(name: string): string {
  return name.replace(/[A-Z]+/g, (upper) => upper.toLowerCase());
}

/**
 * Why a list of group names to host is refused, if it is: a name given twice, also in another
 * case (names that differ only in case are one name, PROTOCOL.md §4).
 */
export function repeatedGroupName(names: readonly string[]): string | undefined {
  const seen = new Map<string, string>();
  for (const name of names) {
    const earlier = seen.get(groupNameKey(name));
    if (earlier === name) return `each group name may be given once; "${name}" is given twice`;
    if (earlier !== undefined) {
      return `"${earlier}" and "${name}" are one group name (names that differ only in case are one); give it once`;
    }
    seen.set(groupNameKey(name), name);
  }
  return undefined;
}

export function displayName(body: Body, key = "name"): string {
  const v = str(body, key, Limits.displayNameChars);
  if (/[\p{Cc}]/u.test(v)) throw badRequest(`"${key}" must not contain control characters`);
  // A name that shows as nothing, or one that reorders what follows it on the line (a bidi
  // override, embedding, isolate or mark), could pass for another user's or hide the fingerprint.
  if (INVISIBLE_ONLY.test(v))
    throw badRequest(`"${key}" must have a visible character, not only spaces or zero-width ones`);
  if (BIDI.test(v)) throw badRequest(`"${key}" must not contain bidirectional controls (overrides, isolates, marks)`);
  // Messages show "name (fingerprint)": a name holding a fingerprint of its own could pass for
  // another. Any bracket pair (Unicode Ps/Pe) around 8 letters or digits of any script counts, after
  // NFKC folds full-width and other compatibility forms: look-alikes such as Cyrillic "а" for
  // "a" or "（" for "(" would otherwise pass.
  if (/\p{Ps}\s*[\p{L}\p{N}\p{M}]{8}\s*\p{Pe}/u.test(v.normalize("NFKC"))) {
    throw badRequest(
      `"${key}" must not contain a fingerprint-like group in brackets, such as "(1a2b3c4d)": gm shows the real one there`,
    );
  }
  return v;
}

/** Message text: well-formed, non-blank, at most Limits.textBytes UTF-8 bytes and Limits.textJsonBytes as JSON. */
export function messageText(body: Body, key = "text"): string {
  const v = body[key];
  if (typeof v !== "string") throw badRequest(`"${key}" must be a string`);
  wellFormed(v, key);
  if (INVISIBLE_ONLY.test(v)) {
    const what = v.trim().length === 0 ? "" : ": it has only invisible characters (zero-width and the like)";
    throw new GmError(ErrorCode.EmptyMessage, `the message is empty${what}`);
  }
  const bytes = Buffer.byteLength(v, "utf8");
  if (bytes > Limits.textBytes) {
    throw new GmError(
      ErrorCode.MessageTooLarge,
      `the message is ${bytes} bytes; the limit is ${Limits.textBytes} bytes (64 KiB) of UTF-8`,
    );
  }
  // Each UTF-16 unit is at most 6 bytes of JSON: only longer texts can pass the JSON limit.
  if (v.length * 6 > Limits.textJsonBytes) {
    const json = Buffer.byteLength(JSON.stringify(v), "utf8") - 2;
    if (json > Limits.textJsonBytes) {
      throw new GmError(
        ErrorCode.MessageTooLarge,
        `the message is ${json} bytes as JSON; the limit is ${Limits.textJsonBytes} bytes (96 KiB) ` +
          "(a control character counts 6 bytes there, a tab, line feed, quote or backslash 2)",
      );
    }
  }
  return v;
}

/**
 * A SEARCH query's words (PROTOCOL.md §SEARCH): the query split at white space and control
 * characters, keeping the words with a letter or a digit (the others could match nothing). Every
 * other character is part of a word, never an operator: the store matches each word as it is.
 */
export function searchWords(body: Body, key = "query"): string[] {
  const query = str(body, key, Limits.searchQueryChars);
  const words = query.split(/[\s\p{Cc}]+/u).filter((w) => /[\p{L}\p{N}]/u.test(w));
  if (words.length === 0) throw badRequest(`"${key}" has no word to search for: give letters or digits`);
  if (words.length > Limits.searchWords) {
    throw badRequest(`"${key}" has ${words.length} words; at most ${Limits.searchWords} are searched for at once`);
  }
  return words;
}

/** A ZeroMQ TCP endpoint as a peer can connect to it: tcp://host:port, in printable ASCII. */
export function endpoint(body: Body, key = "address"): string {
  const v = str(body, key, 256);
  // The host is printable ASCII without '/', ':', '*' or brackets (a NUL or a line feed in an
  // address would be listed to every user and written to logs), or an IPv6 address in brackets.
  const port = /^tcp:\/\/(?:[\x21-\x29\x2b-\x2e\x30-\x39\x3b-\x5a\x5c\x5e-\x7e]+|\[[0-9a-fA-F:.]+\]):(\d{1,5})$/.exec(
    v,
  )?.[1];
  if (port === undefined || Number(port) < 1 || Number(port) > 65535) {
    throw badRequest(`"${key}" must be a connectable endpoint like tcp://host:port (port 1-65535)`);
  }
  return v;
}

/** An optional boolean field. */
export function optBool(body: Body, key: string): boolean | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw badRequest(`"${key}" must be true or false`);
  return v;
}

/** A required boolean field. */
export function bool(body: Body, key: string): boolean {
  const v = optBool(body, key);
  if (v === undefined) throw badRequest(`"${key}" must be true or false`);
  return v;
}

/** The hex digits of a user id as a uuid (8-4-4-4-12), lower case. */
const asUuid = (hex: string): string =>
  `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`.toLowerCase();

/**
 * A user named by id or by fingerprint (PROTOCOL.md §6.3): a uuid (or its 32 hex digits) is
 * returned as a lower-case uuid; 8 to 31 hex digits, the start of a user id without its hyphens,
 * as that lower-case prefix. Anything shorter is refused: 8 digits is what gm shows as a
 * fingerprint, and fewer would match too many keys.
 */
export function userRef(body: Body, key: string): string {
  const v = body[key];
  if (typeof v === "string") {
    if (UUID.test(v)) return v.toLowerCase();
    if (/^[0-9a-f]{32}$/i.test(v)) return asUuid(v);
    if (/^[0-9a-f]{8,31}$/i.test(v)) return v.toLowerCase();
  }
  throw badRequest(`"${key}" must be a user id (a uuid) or a fingerprint: 8 to 32 hex digits of the user id`);
}
