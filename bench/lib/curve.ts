/**
 * Security modes of a measurement: "insecure" (plain-text ZeroMQ, `gm ... --insecure`) or "curve"
 * (CURVE encryption, gm's default). The baseline programs get CURVE from here, made with
 * zeromq.js's own key generator and the same socket options gm sets (src/net/security.ts:
 * serverOptions / clientOptions), so the baselines stay free of gm code and pay exactly what
 * libzmq's CURVE costs.
 *
 * A baseline server run with `--curve` makes a fresh keypair and reports its public key in its
 * ready message (`serverKey`); a client given `--server-key KEY` makes its own keypair and talks
 * CURVE to that server.
 */
import * as zmq from "zeromq";

export const SECURITIES = ["insecure", "curve"] as const;
export type Security = (typeof SECURITIES)[number];

/** How a row names its mode: "(insecure)" or "(CURVE)". */
export function securityLabel(s: Security): string {
  return s === "curve" ? "CURVE" : "insecure";
}

/** A CURVE server's socket options and the public key its clients need. */
export function curveServer(): { options: Record<string, unknown>; serverKey: string } {
  const { publicKey, secretKey } = zmq.curveKeyPair();
  return {
    // zapDomain as gm's servers set it: libzmq then asks a ZAP handler, if there is one.
    options: { curveServer: true, curvePublicKey: publicKey, curveSecretKey: secretKey, zapDomain: "bench" },
    serverKey: publicKey,
  };
}

/** A CURVE client's socket options towards the server with `serverKey` (a fresh client keypair). */
export function curveClient(serverKey: string): Record<string, unknown> {
  const { publicKey, secretKey } = zmq.curveKeyPair();
  return { curveServerKey: serverKey, curvePublicKey: publicKey, curveSecretKey: secretKey };
}
