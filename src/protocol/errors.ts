import { ErrorCode, type ErrorCodeName, Status, type StatusCode } from "./constants.js";

/**
 * An error that maps onto a protocol error reply: a status (whether a retry can help),
 * a machine-readable code and a human message.
 */
export class GmError extends Error {
  override readonly name: string = "GmError";
  constructor(
    readonly code: ErrorCodeName,
    message: string,
    readonly status: StatusCode = Status.BadRequest,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** No reply came from a peer after every try. */
export class TimeoutError extends Error {
  override readonly name: string = "TimeoutError";
  constructor(
    readonly endpoint: string,
    readonly attempts: number,
    readonly waitedMs: number,
  ) {
    super(
      `no reply from ${endpoint} after ${attempts} ${attempts === 1 ? "try" : "tries"} ` +
        `(${(waitedMs / 1000).toFixed(1)} s): is the server running and reachable?`,
    );
  }
}

/** The peer answered with an error reply. */
export class RemoteError extends GmError {
  constructor(
    code: ErrorCodeName,
    message: string,
    status: StatusCode,
    readonly endpoint: string,
  ) {
    super(code, message, status);
  }
}

export const badRequest = (message: string): GmError => new GmError(ErrorCode.BadRequest, message);
