/**
 * Every failure gm knows of, in one module (as nats.js has one): each a class with its own `name`,
 * a machine-readable `code` and the `cause` it came from. Callers choose what to do by class (the
 * CLI its exit code, the registrar whether to retry), never by message text or by `name`.
 *
 * ```
 * GmError                a failure with a code and a status (the wire's error reply)
 * ├─ RemoteError         the peer answered with an error reply
 * ├─ TimeoutError        no reply from the peer after every try
 * ├─ ClosedError         the request's client was closed before a reply came
 * ├─ CancelledError      the caller gave up on a request (its AbortSignal fired)
 * ├─ UsageError          bad input given on this side: flags, arguments, a shell line
 * │  ├─ EndpointError    an address that is not a usable endpoint, or cannot be bound
 * │  ├─ TimestampError   a timestamp that could not be understood
 * │  └─ QuoteError       a shell line with an unclosed quote
 * ├─ ProfileError        a profile file that cannot be read
 * ├─ KeyFileError        a key file that cannot be used (unreadable, malformed, readable by others)
 * ├─ LockError           a lock file (a profile's) that a live process kept for too long
 * ├─ NotServedError      a group whose server is gone and that the directory no longer lists
 * ├─ HandshakeError      the CURVE handshake with a peer failed (wrong key, refused, insecure peer)
 * └─ StoreError          a store that cannot be opened or used
 * ```
 *
 * Only wire codes (`ErrorCode`) ever travel in a reply; the others (`LocalErrorCode`) name
 * failures that happen on this side. A server that meets a local failure answers INTERNAL.
 */
import { ErrorCode, type ErrorCodeName, Status, type StatusCode } from "./constants.js";

/** Codes of failures that happen on this side of the wire and are never sent. */
export const LocalErrorCode = {
  Timeout: "TIMEOUT",
  Closed: "CLOSED",
  Cancelled: "CANCELLED",
  Usage: "USAGE",
  BadEndpoint: "BAD_ENDPOINT",
  BadTimestamp: "BAD_TIMESTAMP",
  BadQuote: "BAD_QUOTE",
  BadProfileName: "BAD_PROFILE_NAME",
  Profile: "PROFILE",
  Store: "STORE",
  KeyFile: "KEY_FILE",
  Handshake: "HANDSHAKE",
  Lock: "LOCK",
  NotServed: "NOT_SERVED",
} as const;
export type LocalErrorCodeName = (typeof LocalErrorCode)[keyof typeof LocalErrorCode];
export type GmErrorCode = ErrorCodeName | LocalErrorCodeName;

const WIRE_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

/** Whether a code is one of the protocol's error codes (docs/PROTOCOL.md), fit to send in a reply. */
export function isWireCode(code: string): code is ErrorCodeName {
  return WIRE_CODES.has(code);
}

/**
 * The base of gm's failures: a status (whether a retry can help, as in an error reply), a
 * machine-readable code and a human message. Thrown as is by handlers, it becomes the error reply.
 */
export class GmError extends Error {
  override readonly name: string = "GmError";
  constructor(
    readonly code: GmErrorCode,
    message: string,
    readonly status: StatusCode = Status.BadRequest,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The peer answered with an error reply: its code, message and status, and who it was. */
export class RemoteError extends GmError {
  override readonly name: string = "RemoteError";
  constructor(
    code: ErrorCodeName,
    message: string,
    status: StatusCode,
    readonly endpoint: string,
    options?: ErrorOptions,
  ) {
    super(code, message, status, options);
  }
}

/** No reply came from a peer after every try. A retry later may help (status 300). */
export class TimeoutError extends GmError {
  override readonly name: string = "TimeoutError";
  constructor(
    readonly endpoint: string,
    readonly attempts: number,
    readonly waitedMs: number,
    options?: ErrorOptions,
  ) {
    super(
      LocalErrorCode.Timeout,
      `no reply from ${endpoint} after ${attempts} ${attempts === 1 ? "try" : "tries"} ` +
        `(${(waitedMs / 1000).toFixed(1)} s): is the server running and reachable?`,
      Status.TryAgain,
      options,
    );
  }
}

/** A request was made on, or still waiting in, a client that has been closed. */
export class ClosedError extends GmError {
  override readonly name: string = "ClosedError";
  constructor(
    readonly endpoint: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(LocalErrorCode.Closed, message, Status.TryAgain, options);
  }
}

/**
 * The caller cancelled a request through its AbortSignal (the shell's Ctrl-C) before a reply came.
 * `sent`: whether the request had been handed to the socket, so the server may have acted on it
 * (a SEND may or may not have been stored); false when it was cancelled before it went out.
 */
export class CancelledError extends GmError {
  override readonly name: string = "CancelledError";
  constructor(
    readonly endpoint: string,
    readonly sent: boolean,
    options?: ErrorOptions,
  ) {
    super(LocalErrorCode.Cancelled, `request to ${endpoint} cancelled`, Status.TryAgain, options);
  }
}

/**
 * Bad input given on this side (a flag, an argument, a profile name, a shell line): nothing was
 * sent, and the same input will fail again. The CLI exits 2. `code` is the wire code when the
 * check is the one a server would make (EMPTY_MESSAGE, MESSAGE_TOO_LARGE, BAD_REQUEST).
 */
export class UsageError extends GmError {
  override readonly name: string = "UsageError";
  constructor(message: string, options?: ErrorOptions & { code?: GmErrorCode }) {
    super(options?.code ?? LocalErrorCode.Usage, message, Status.BadRequest, options);
  }

  /**
   * Runs a check of the protocol's validation (src/protocol/validate.ts) on local input: its
   * GmError becomes a UsageError with the same code and message, so a caller that validates before
   * sending tells bad usage from a server's refusal.
   */
  static check<T>(validate: () => T): T {
    try {
      return validate();
    } catch (err) {
      if (err instanceof GmError && !(err instanceof UsageError)) {
        throw new UsageError(err.message, { code: err.code, cause: err });
      }
      throw err;
    }
  }
}

/** A user-supplied address that is not a usable endpoint, or that cannot be listened on. */
export class EndpointError extends UsageError {
  override readonly name: string = "EndpointError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, { ...options, code: LocalErrorCode.BadEndpoint });
  }
}

/** A timestamp that could not be understood; the message lists the accepted forms. */
export class TimestampError extends UsageError {
  override readonly name: string = "TimestampError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, { ...options, code: LocalErrorCode.BadTimestamp });
  }
}

/** A line that cannot be split into words (an unclosed quote). */
export class QuoteError extends UsageError {
  override readonly name: string = "QuoteError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, { ...options, code: LocalErrorCode.BadQuote });
  }
}

/** A profile file that exists but cannot be read or is not a gm profile. */
export class ProfileError extends GmError {
  override readonly name: string = "ProfileError";
  constructor(
    readonly file: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(LocalErrorCode.Profile, message, Status.ServerError, options);
  }
}

/** The store refused to open (another process holds the group, the file is not a gm store) or failed. */
export class StoreError extends GmError {
  override readonly name: string = "StoreError";
  constructor(message: string, options?: ErrorOptions) {
    super(LocalErrorCode.Store, message, Status.ServerError, options);
  }
}

/** A key file that exists but cannot be used: unreadable, not a keypair, or readable by others. */
export class KeyFileError extends GmError {
  override readonly name: string = "KeyFileError";
  constructor(
    readonly file: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(LocalErrorCode.KeyFile, message, Status.ServerError, options);
  }
}

/** A lock file (util/lock-file.ts) that another process held beyond the wait. */
export class LockError extends GmError {
  override readonly name: string = "LockError";
  constructor(
    readonly file: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(LocalErrorCode.Lock, message, Status.ServerError, options);
  }
}

/**
 * A joined group that nobody serves now: its server does not answer and the directory does not
 * list it (it stopped cleanly and unregistered, or stopped refreshing). It may come back (300).
 */
export class NotServedError extends GmError {
  override readonly name: string = "NotServedError";
  constructor(
    readonly group: string,
    readonly endpoint: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(LocalErrorCode.NotServed, message, Status.TryAgain, options);
  }
}

/**
 * The security handshake with a peer failed: it does not use CURVE (or we do not), it refused our
 * key, or it does not hold the key we expect of it. Retrying the same way fails the same way.
 */
export class HandshakeError extends GmError {
  override readonly name: string = "HandshakeError";
  constructor(
    readonly endpoint: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(LocalErrorCode.Handshake, message, Status.BadRequest, options);
  }
}

export const badRequest = (message: string): GmError => new GmError(ErrorCode.BadRequest, message);
