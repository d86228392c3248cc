/**
 * Encoding and decoding of gm messages (docs/PROTOCOL.md §2). Pure: no sockets, no clock.
 *
 * Every request, reply and event is ONE ZeroMQ frame: a header line of ASCII words separated by
 * single spaces, a line feed, then a JSON body (UTF-8):
 *   request  "GM/2 <command> <request-id>\n<body>"   after [routing id] [empty delimiter, REQ only]
 *   reply    "GM/2 <status> <request-id>\n<body>"    with the request's envelope in front
 *   event    "<topic> <kind>\n<body>"                on a group server's XPUB socket
 * One frame, not one per field, because each frame costs zeromq.js about 2 us to send and again to
 * receive: with four frames a request and its reply spent more in framing than the server spent on
 * the message (bench/experiments/frames-micro.ts).
 */
import { ErrorCode, Limits, SIGNATURE, Status, type StatusCode } from "./constants.js";
import { GmError } from "./errors.js";

/** What a socket is given to send: a Buffer, or a string it encodes as UTF-8. */
export type Frame = Buffer | string;

const EMPTY = Buffer.alloc(0);
const LF = 0x0a;
/** The longest header a request or reply can have: signature, command (32), id (64), spaces. */
const MAX_HEADER = SIGNATURE.length + 1 + 32 + 1 + Limits.requestIdBytes;
/** Request ids and commands: printable ASCII without space. */
const WORD = /^[\x21-\x7e]+$/;

export interface Request {
  /** Frames to put back in front of the reply: routing id, and the REQ delimiter if any. */
  readonly envelope: Buffer[];
  readonly command: string;
  /** The request id, echoed in the reply ("" when the request's id could not be read). */
  readonly id: string;
  readonly body: Record<string, unknown>;
}

export type DecodedRequest =
  | { readonly ok: true; readonly request: Request }
  | { readonly ok: false; readonly envelope: Buffer[]; readonly id: string; readonly error: GmError };

/** Splits off the envelope that a ROUTER socket adds (and the empty delimiter REQ adds). */
function splitEnvelope(frames: readonly Buffer[]): [Buffer[], Buffer[]] {
  const routingId = frames[0] ?? EMPTY;
  const second = frames[1];
  if (second !== undefined && second.length === 0) return [[routingId, EMPTY], frames.slice(2)];
  return [[routingId], frames.slice(1)];
}

/** The header line of a frame (its bytes up to the first LF, or -1 for `lf` if there is none). */
function headerOf(frame: Buffer, max: number): { words: string[]; lf: number } {
  const lf = frame.indexOf(LF);
  return { words: frame.toString("latin1", 0, Math.min(lf < 0 ? frame.length : lf, max)).split(" "), lf };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACKET = 0x5d;
const CLOSE_BRACE = 0x7d;

/**
 * Scans JSON text from `from` for `[` and `{` outside strings: returns the depth first reached
 * beyond `max`, or 0 if the nesting stays within it. One pass, no allocation, strings skipped with
 * a native search for their closing quote, so a body costs a fraction of parsing it (a 64 KiB
 * text: microseconds); it does not validate (JSON.parse does that next). The bytes of a multi-byte
 * UTF-8 character are all >= 0x80, so they never look like a quote or a bracket.
 */
export function jsonDepthOver(frame: Buffer, from: number, max: number): number {
  let depth = 0;
  for (let i = from; i < frame.length; i++) {
    const b = frame[i] as number;
    if (b === QUOTE) {
      // The closing quote is the next one not escaped: preceded by an even number of backslashes.
      for (;;) {
        const q = frame.indexOf(QUOTE, i + 1);
        if (q < 0) return 0; // unterminated: JSON.parse refuses it
        let slashes = 0;
        while (frame[q - 1 - slashes] === BACKSLASH) slashes++;
        i = q;
        if (slashes % 2 === 0) break;
      }
    } else if (b === OPEN_BRACKET || b === OPEN_BRACE) {
      if (++depth > max) return depth;
    } else if (b === CLOSE_BRACKET || b === CLOSE_BRACE) {
      depth--;
    }
  }
  return 0;
}

/** Decodes a request received on a ROUTER socket. Never throws. */
export function decodeRequest(frames: readonly Buffer[]): DecodedRequest {
  const [envelope, payload] = splitEnvelope(frames);
  const frame = payload[0] ?? EMPTY;
  const { words, lf } = headerOf(frame, MAX_HEADER + 1);
  const [sig = "", command = "", rawId = ""] = words;
  const wellFormed = lf >= 0 && lf <= MAX_HEADER && words.length === 3;
  // Echoed only from a header that parses, so a reply never carries a word that is not the id.
  const id = wellFormed && rawId.length <= Limits.requestIdBytes && WORD.test(rawId) ? rawId : "";
  const fail = (code: GmError["code"], message: string): DecodedRequest => ({
    ok: false,
    envelope,
    id,
    error: new GmError(code, message),
  });

  if (sig !== SIGNATURE) {
    if (sig.startsWith("GM/")) {
      return fail(
        ErrorCode.UnsupportedVersion,
        `unsupported protocol version "${sig.slice(0, 16)}": this server speaks ${SIGNATURE}`,
      );
    }
    return fail(
      ErrorCode.BadSignature,
      `not a gm request: it must start with "${SIGNATURE} <command> <request-id>" and a line feed`,
    );
  }
  if (payload.length !== 1) {
    return fail(
      ErrorCode.BadFrames,
      `a request is one frame (header line, line feed, JSON body), got ${payload.length} frames`,
    );
  }
  if (!wellFormed) {
    return fail(
      ErrorCode.BadFrames,
      `the header line must be "${SIGNATURE} <command> <request-id>", at most ${MAX_HEADER} bytes, then a line feed`,
    );
  }
  if (id === "") {
    return fail(ErrorCode.BadFrames, `the request id must be 1 to ${Limits.requestIdBytes} printable ASCII bytes`);
  }
  if (command.length === 0 || command.length > 32 || !WORD.test(command)) {
    return fail(ErrorCode.UnknownCommand, "the command must be 1 to 32 printable ASCII bytes");
  }
  const bodyBytes = frame.length - lf - 1;
  if (bodyBytes > Limits.bodyBytes) {
    return fail(ErrorCode.TooLarge, `request body is ${bodyBytes} bytes; the limit is ${Limits.bodyBytes}`);
  }
  const depth = jsonDepthOver(frame, lf + 1, Limits.jsonDepth);
  if (depth > 0) {
    return fail(
      ErrorCode.BadJson,
      `the body nests arrays and objects deeper than ${Limits.jsonDepth} levels (the limit); it reached ${depth}`,
    );
  }
  let body: unknown;
  try {
    body = bodyBytes === 0 ? {} : JSON.parse(frame.toString("utf8", lf + 1));
  } catch (err) {
    return fail(ErrorCode.BadJson, `the body is not valid JSON: ${(err as Error).message}`);
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return fail(ErrorCode.BadJson, "the body must be a JSON object");
  }
  return { ok: true, request: { envelope, command, id, body: body as Record<string, unknown> } };
}

/** A reply body that is JSON text already (a history page built by SQLite): sent as it is. */
export class JsonText {
  constructor(readonly text: string) {}
}

/** Encodes a successful reply. */
export function encodeReply(envelope: readonly Buffer[], id: string, body: unknown): Frame[] {
  const json = body instanceof JsonText ? body.text : JSON.stringify(body ?? {});
  return [...envelope, `${SIGNATURE} ${Status.Ok} ${id}\n${json}`];
}

/** Encodes an error reply from a GmError. */
export function encodeError(envelope: readonly Buffer[], id: string, error: GmError): Frame[] {
  const body = JSON.stringify({ code: error.code, message: error.message });
  return [...envelope, `${SIGNATURE} ${error.status} ${id}\n${body}`];
}

/** Encodes a request as a DEALER client sends it (no envelope). `id`: printable ASCII, no space. */
export function encodeRequest(command: string, id: string, body: unknown): Frame[] {
  return encodeRequestJson(command, id, JSON.stringify(body ?? {}));
}

/** The same, with the body already encoded as JSON (a client that builds bodies from a template). */
export function encodeRequestJson(command: string, id: string, json: string): Frame[] {
  return [`${SIGNATURE} ${command} ${id}\n${json}`];
}

/** Encodes an event on `topic` (a group topic or a hello topic) as the events (XPUB) socket publishes it. */
export function encodeEvent(topic: string, kind: string, body: unknown): Frame[] {
  return [`${topic} ${kind}\n${JSON.stringify(body ?? {})}`];
}

export type Reply =
  | { readonly type: "reply"; readonly status: StatusCode; readonly id: string; readonly body: unknown }
  | { readonly type: "invalid"; readonly reason: string };

export type Event =
  | {
      readonly type: "event";
      readonly topic: string;
      readonly kind: string;
      readonly body: unknown;
    }
  | { readonly type: "invalid"; readonly reason: string };

function jsonBody(frame: Buffer, from: number): { ok: true; body: unknown } | { ok: false } {
  try {
    return { ok: true, body: JSON.parse(frame.toString("utf8", from)) };
  } catch {
    return { ok: false };
  }
}

const STATUS = /^[2-5]00$/;

/** Decodes a reply as a DEALER (or REQ, after its delimiter) client receives it. Never throws. */
export function decodeReply(frames: readonly Buffer[]): Reply {
  const frame = frames[0];
  if (frames.length !== 1 || frame === undefined) {
    return { type: "invalid", reason: `expected 1 frame, got ${frames.length}` };
  }
  const { words, lf } = headerOf(frame, MAX_HEADER + 1);
  const [sig, status = "", id] = words;
  if (sig !== SIGNATURE) return { type: "invalid", reason: "bad signature" };
  if (lf < 0 || words.length !== 3) return { type: "invalid", reason: "bad header line" };
  if (!STATUS.test(status)) return { type: "invalid", reason: `"${status.slice(0, 16)}" is not a status` };
  const body = jsonBody(frame, lf + 1);
  if (!body.ok) return { type: "invalid", reason: "body is not JSON" };
  return { type: "reply", status: status as StatusCode, id: id as string, body: body.body };
}

/** Decodes an event as a SUB socket receives it. Never throws. */
export function decodeEvent(frames: readonly Buffer[]): Event {
  const frame = frames[0];
  if (frames.length !== 1 || frame === undefined) {
    return { type: "invalid", reason: `expected 1 frame, got ${frames.length}` };
  }
  const { words, lf } = headerOf(frame, 128);
  if (lf < 0 || words.length !== 2) return { type: "invalid", reason: "bad header line" };
  const body = jsonBody(frame, lf + 1);
  if (!body.ok) return { type: "invalid", reason: "body is not JSON" };
  return { type: "event", topic: words[0] as string, kind: words[1] as string, body: body.body };
}
