/**
 * Encoding and decoding of gm frames (docs/PROTOCOL.md, "Framing"). Pure: no sockets, no clock.
 *
 * Request, as a server's ROUTER socket receives it:
 *   [routing id] [empty delimiter, only from REQ clients] "GM/1" command request-id body-json
 * Reply, mirroring the envelope:
 *   [routing id] [empty delimiter, if the request had one] "GM/1" status request-id body-json
 * Event (on a group server's XPUB socket, to SUB sockets; the topic says which group):
 *   topic kind body-json
 */
import { ErrorCode, Limits, SIGNATURE, Status, type StatusCode } from "./constants.js";
import { GmError } from "./errors.js";

const SIG = Buffer.from(SIGNATURE);
const EMPTY = Buffer.alloc(0);
const STATUS_FRAMES: Record<string, Buffer> = Object.fromEntries(Object.values(Status).map((s) => [s, Buffer.from(s)]));

export interface Request {
  /** Frames to put back in front of the reply: routing id, and the REQ delimiter if any. */
  readonly envelope: Buffer[];
  readonly command: string;
  readonly id: Buffer;
  readonly body: Record<string, unknown>;
}

export type DecodedRequest =
  | { readonly ok: true; readonly request: Request }
  | { readonly ok: false; readonly envelope: Buffer[]; readonly id: Buffer; readonly error: GmError };

/** Splits off the envelope that a ROUTER socket adds (and the empty delimiter REQ adds). */
function splitEnvelope(frames: readonly Buffer[]): [Buffer[], Buffer[]] {
  const routingId = frames[0] ?? EMPTY;
  const second = frames[1];
  if (second !== undefined && second.length === 0) return [[routingId, EMPTY], frames.slice(2)];
  return [[routingId], frames.slice(1)];
}

/** Decodes a request received on a ROUTER socket. Never throws. */
export function decodeRequest(frames: readonly Buffer[]): DecodedRequest {
  const [envelope, payload] = splitEnvelope(frames);
  const rawId = payload[2];
  const id = rawId !== undefined && rawId.length <= Limits.requestIdBytes ? rawId : EMPTY;
  const fail = (code: GmError["code"], message: string): DecodedRequest => ({
    ok: false,
    envelope,
    id,
    error: new GmError(code, message),
  });

  const sig = payload[0];
  if (sig === undefined || !sig.equals(SIG)) {
    if (sig !== undefined && sig.subarray(0, 3).toString("latin1") === "GM/") {
      return fail(
        ErrorCode.UnsupportedVersion,
        `unsupported protocol version "${sig.toString("latin1", 0, 16)}": this server speaks ${SIGNATURE}`,
      );
    }
    return fail(ErrorCode.BadSignature, `not a gm request: the first frame must be "${SIGNATURE}"`);
  }
  if (payload.length !== 4) {
    return fail(
      ErrorCode.BadFrames,
      `a request has 4 frames (signature, command, request id, body), got ${payload.length}`,
    );
  }
  const [, commandFrame, idFrame, bodyFrame] = payload as [Buffer, Buffer, Buffer, Buffer];
  if (idFrame.length === 0 || idFrame.length > Limits.requestIdBytes) {
    return fail(ErrorCode.BadFrames, `the request id must be 1 to ${Limits.requestIdBytes} bytes`);
  }
  if (commandFrame.length === 0 || commandFrame.length > 32) {
    return fail(ErrorCode.UnknownCommand, "the command frame must be 1 to 32 bytes");
  }
  if (bodyFrame.length > Limits.bodyBytes) {
    return fail(ErrorCode.TooLarge, `request body is ${bodyFrame.length} bytes; the limit is ${Limits.bodyBytes}`);
  }
  let body: unknown;
  try {
    body = bodyFrame.length === 0 ? {} : JSON.parse(bodyFrame.toString("utf8"));
  } catch (err) {
    return fail(ErrorCode.BadJson, `the body is not valid JSON: ${(err as Error).message}`);
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return fail(ErrorCode.BadJson, "the body must be a JSON object");
  }
  return {
    ok: true,
    request: {
      envelope,
      command: commandFrame.toString("latin1"),
      id: idFrame,
      body: body as Record<string, unknown>,
    },
  };
}

/** Encodes a successful reply. `body` may be pre-encoded JSON to avoid re-encoding. */
export function encodeReply(envelope: readonly Buffer[], id: Buffer, body: unknown): Buffer[] {
  return [...envelope, SIG, STATUS_FRAMES[Status.Ok] as Buffer, id, toJsonFrame(body)];
}

/** Encodes an error reply from a GmError. */
export function encodeError(envelope: readonly Buffer[], id: Buffer, error: GmError): Buffer[] {
  const body = JSON.stringify({ code: error.code, message: error.message });
  return [...envelope, SIG, STATUS_FRAMES[error.status] as Buffer, id, Buffer.from(body)];
}

const COMMAND_FRAMES = new Map<string, Buffer>();

/** Encodes a request as a DEALER client sends it (no envelope). */
export function encodeRequest(command: string, id: string, body: unknown): Buffer[] {
  let c = COMMAND_FRAMES.get(command);
  if (c === undefined) {
    c = Buffer.from(command, "latin1");
    if (COMMAND_FRAMES.size < 64) COMMAND_FRAMES.set(command, c);
  }
  return [SIG, c, Buffer.from(id, "latin1"), toJsonFrame(body)];
}

const KIND_FRAMES = new Map<string, Buffer>();

/** Encodes an event as the events (XPUB) socket publishes it: topic, kind, body. */
export function encodeEvent(topic: Buffer, kind: string, body: unknown): Buffer[] {
  let k = KIND_FRAMES.get(kind);
  if (k === undefined) {
    k = Buffer.from(kind, "latin1");
    if (KIND_FRAMES.size < 64) KIND_FRAMES.set(kind, k);
  }
  return [topic, k, toJsonFrame(body)];
}

function toJsonFrame(body: unknown): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body ?? {}));
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

function jsonBody(frame: Buffer): { ok: true; body: unknown } | { ok: false } {
  try {
    return { ok: true, body: JSON.parse(frame.toString("utf8")) };
  } catch {
    return { ok: false };
  }
}

/** Decodes a reply as a DEALER (or REQ, after its delimiter) client receives it. Never throws. */
export function decodeReply(frames: readonly Buffer[]): Reply {
  if (frames.length !== 4) return { type: "invalid", reason: `expected 4 frames, got ${frames.length}` };
  const [sig, status, id, bodyFrame] = frames as [Buffer, Buffer, Buffer, Buffer];
  if (!sig.equals(SIG)) return { type: "invalid", reason: "bad signature" };
  const head = status.toString("latin1");
  if (!/^[2-5]00$/.test(head)) return { type: "invalid", reason: `"${head.slice(0, 16)}" is not a status` };
  const body = jsonBody(bodyFrame);
  if (!body.ok) return { type: "invalid", reason: "body is not JSON" };
  return { type: "reply", status: head as StatusCode, id: id.toString("latin1"), body: body.body };
}

/** Decodes an event as a SUB socket receives it. Never throws. */
export function decodeEvent(frames: readonly Buffer[]): Event {
  if (frames.length !== 3) return { type: "invalid", reason: `expected 3 frames, got ${frames.length}` };
  const [topic, kind, bodyFrame] = frames as [Buffer, Buffer, Buffer];
  const body = jsonBody(bodyFrame);
  if (!body.ok) return { type: "invalid", reason: "body is not JSON" };
  return { type: "event", topic: topic.toString("latin1"), kind: kind.toString("latin1"), body: body.body };
}
