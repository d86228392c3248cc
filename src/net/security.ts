/**
 * CURVE on gm's sockets (PROTOCOL.md §12). A server socket holds the server's keypair; a client
 * socket holds the client's keypair and the public key it expects the server to have. Without
 * keys a socket is plain text (`--insecure`); a secure and a plain peer fail their handshake, and
 * `watchHandshake` turns the failure into an error that says which side is which.
 */
import type { Socket } from "zeromq";
import { HandshakeError } from "../protocol/errors.js";
import { fingerprintOf, type Key, type KeyPair, userIdOf } from "../protocol/keys.js";
import { HANDSHAKE_MS } from "./connections.js";

/** What a client needs to talk CURVE to one server. */
export interface ClientSecurity {
  readonly keys: KeyPair;
  /** The server's public key, known in advance (the directory's LIST, a flag, a pin). */
  readonly serverKey: Key;
}

/** The ZAP domain of gm's server sockets (RFC 27): what a ZAP handler sees. */
export const ZAP_DOMAIN = "gm";

/**
 * Socket options of a server socket: CURVE with its keypair, or plain text. Either way with a ZAP
 * domain, so that the process's ZAP handler decides on every handshake (NULL ones too: it refuses
 * them at the connection limit, connections.ts), and a short handshake interval, so that a
 * connection that never handshakes holds its file descriptor for seconds, not libzmq's 30.
 */
export function serverOptions(keys: KeyPair | undefined): Record<string, unknown> {
  const common = { zapDomain: ZAP_DOMAIN, handshakeInterval: HANDSHAKE_MS };
  if (keys === undefined) return common;
  return { curveServer: true, curveSecretKey: keys.secretKey, curvePublicKey: keys.publicKey, ...common };
}

/** Socket options of a client socket: CURVE towards `security.serverKey`, or nothing (plain text). */
export function clientOptions(security: ClientSecurity | undefined): Record<string, unknown> {
  if (security === undefined) return {};
  return {
    curveServerKey: security.serverKey,
    curvePublicKey: security.keys.publicKey,
    curveSecretKey: security.keys.secretKey,
  };
}

/** A key's short fingerprint, for messages about it. */
export function keyFingerprint(key: Key): string {
  return fingerprintOf(userIdOf(key));
}

/**
 * Calls `onFailure` each time a connection's handshake fails, with an error that says why as far
 * as the client can tell: the peer does (or does not) use CURVE, refused our key, or does not hold
 * the key we expect. The socket keeps retrying by itself; the caller decides what to fail.
 */
export function watchHandshake(
  socket: Socket,
  endpoint: string,
  security: ClientSecurity | undefined,
  onFailure: (err: HandshakeError) => void,
): void {
  const events = socket.events;
  events.on("handshake:error:protocol", (e) => {
    const code = (e.error as { code?: string } | undefined)?.code;
    if (code === "ERR_ZMTP_MECHANISM_MISMATCH") {
      onFailure(
        new HandshakeError(
          endpoint,
          security === undefined
            ? `${endpoint} uses CURVE encryption and this client runs with --insecure: drop --insecure (and unset GM_INSECURE)`
            : `${endpoint} does not use CURVE encryption (it runs with --insecure?): refusing to talk ` +
                "in plain text; use --insecure on both sides only if that is what you want",
        ),
      );
      return;
    }
    onFailure(
      new HandshakeError(endpoint, `the security handshake with ${endpoint} failed (${code ?? "protocol error"})`),
    );
  });
  events.on("handshake:error:auth", (e) => {
    // gm's ZAP handler answers 500 at the connection limit (zap.ts), 400 for a denied key.
    if ((e.error as { status?: number } | undefined)?.status === 500) {
      onFailure(
        new HandshakeError(
          endpoint,
          `${endpoint} refused the connection: it holds as many connections as it takes (its --max-connections); ` +
            "try again later",
        ),
      );
      return;
    }
    onFailure(
      new HandshakeError(
        endpoint,
        `${endpoint} refused this client's key${security ? ` (${keyFingerprint(security.keys.publicKey)})` : ""} ` +
          "at the handshake: its operator has barred it there (--deny-key)",
      ),
    );
  });
  events.on("handshake:error:other", () => {
    // The peer hung up during the handshake. The side that sees a mechanism mismatch first closes
    // the connection, often before the other side has read the greeting that would tell it too,
    // so a hang-up is also what a secure and an insecure peer usually get from each other.
    if (security === undefined) {
      onFailure(
        new HandshakeError(
          endpoint,
          `${endpoint} hung up during the handshake: it most likely uses CURVE encryption and this client ` +
            "runs with --insecure: drop --insecure (and unset GM_INSECURE)",
        ),
      );
      return;
    }
    // CURVE: the server could not open our HELLO (it does not hold the key we expect of it), or it
    // runs without CURVE and hung up on our greeting.
    onFailure(
      new HandshakeError(
        endpoint,
        `${endpoint} does not hold the public key this client expects of it (${keyFingerprint(security.serverKey)}), ` +
          "or it does not use CURVE encryption at all (it runs with --insecure?): its key has changed, or it is " +
          "another server. Check the key with its operator, then give the new one (--server-key or GM_SERVER_KEY " +
          "for a directory); use --insecure on both sides only if plain text is what you want",
      ),
    );
  });
}
