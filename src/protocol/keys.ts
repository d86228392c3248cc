/**
 * CURVE keys and what gm derives from them (PROTOCOL.md §12): Z85 text (ZeroMQ RFC 32), the user
 * id a key stands for, its short fingerprint, and the proof of possession that binds a request to
 * the key that signed it. Pure computation with node:crypto; no ZeroMQ here.
 */
import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
  timingSafeEqual,
} from "node:crypto";
import { badRequest } from "./errors.js";

const Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
const Z85_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < Z85.length; i++) Z85_VALUE[Z85.charCodeAt(i)] = i;

/** A 32-byte CURVE key as 40 characters of Z85, the form ZeroMQ's socket options take. */
export type Key = string;

export interface KeyPair {
  readonly publicKey: Key;
  readonly secretKey: Key;
}

/** Z85-encodes bytes whose length is a multiple of 4. */
export function z85Encode(bytes: Uint8Array): string {
  if (bytes.length % 4 !== 0) throw new RangeError("Z85 encodes a multiple of 4 bytes");
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  let out = "";
  for (let i = 0; i < buf.length; i += 4) {
    let v = buf.readUInt32BE(i);
    let chunk = "";
    for (let j = 0; j < 5; j++) {
      chunk = Z85[v % 85] + chunk;
      v = Math.floor(v / 85);
    }
    out += chunk;
  }
  return out;
}

/** Decodes Z85 text (a multiple of 5 characters); undefined if it is not Z85. */
export function z85Decode(text: string): Buffer | undefined {
  if (text.length % 5 !== 0) return undefined;
  const out = Buffer.alloc((text.length / 5) * 4);
  for (let i = 0, o = 0; i < text.length; i += 5, o += 4) {
    let v = 0;
    for (let j = 0; j < 5; j++) {
      const c = text.charCodeAt(i + j);
      const d = c < 128 ? (Z85_VALUE[c] as number) : -1;
      if (d < 0) return undefined;
      v = v * 85 + d;
    }
    if (v > 0xffffffff) return undefined;
    out.writeUInt32BE(v, o);
  }
  return out;
}

/** The 32 raw bytes of a key given as Z85 (40 characters) or hex (64); undefined otherwise. */
export function keyBytes(text: string): Buffer | undefined {
  if (text.length === 40) return z85Decode(text);
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, "hex");
  return undefined;
}

/** Whether a value is a key in gm's wire form (40 characters of Z85). */
export function isKey(value: unknown): value is Key {
  return typeof value === "string" && value.length === 40 && z85Decode(value) !== undefined;
}

/** A key given by a person (Z85 or hex) in gm's form, Z85; throws BAD_REQUEST naming `what`. */
export function parseKey(text: string, what = "key"): Key {
  const bytes = keyBytes(text.trim());
  if (bytes === undefined) {
    throw badRequest(`${what} must be a CURVE public key: 40 characters of Z85 or 64 hex digits`);
  }
  return z85Encode(bytes);
}

/** A new CURVE keypair, from the operating system's random source. */
export function newKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("x25519");
  const d = Buffer.from(privateKey.export({ format: "jwk" }).d as string, "base64url");
  const x = Buffer.from(publicKey.export({ format: "jwk" }).x as string, "base64url");
  return { publicKey: z85Encode(x), secretKey: z85Encode(d) };
}

/** The public key that belongs to a secret key. */
export function publicKeyOf(secretKey: Key): Key {
  const jwk = privateKeyObject(secretKey).export({ format: "jwk" });
  return z85Encode(Buffer.from(jwk.x as string, "base64url"));
}

function privateKeyObject(secretKey: Key): KeyObject {
  const d = z85Decode(secretKey);
  if (d === undefined || d.length !== 32) throw new RangeError("not a CURVE secret key");
  // PKCS#8 wrapping of a raw X25519 private key (RFC 8410): a fixed 16-byte prefix, then the key.
  const der = Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), d]);
  return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
}

function publicKeyObject(publicKey: Key): KeyObject {
  const x = z85Decode(publicKey);
  if (x === undefined || x.length !== 32) throw new RangeError("not a CURVE public key");
  return createPublicKey({ key: { kty: "OKP", crv: "X25519", x: x.toString("base64url") }, format: "jwk" });
}

/**
 * The user id a public key stands for: a UUID (version 8, RFC 9562) made of the first 16 bytes of
 * SHA-256 of the raw key. A user is their key; the id is its name on the wire and in stores.
 */
export function userIdOf(publicKey: Key): string {
  const raw = z85Decode(publicKey);
  if (raw === undefined || raw.length !== 32) throw new RangeError("not a CURVE public key");
  const h = createHash("sha256").update(raw).digest();
  h[6] = ((h[6] as number) & 0x0f) | 0x80;
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The short fingerprint shown beside display names: the first 8 hex digits of the user id. */
export function fingerprintOf(userId: string): string {
  return userId.slice(0, 8).toLowerCase();
}

const PROOF_LABEL = Buffer.from("GM/2 proof\n");

/**
 * The proof that a request comes from the holder of `clientPublic`'s secret key, for the server
 * whose key is `serverPublic`: HMAC-SHA256, keyed with the X25519 shared secret of the two keys, of
 * "GM/2 proof\n" + client key + server key (raw bytes), as 43 characters of base64url. Either
 * side computes it: the client from its secret and the server's public key, the server from its
 * secret and the client's public key. It travels only inside CURVE-encrypted connections.
 */
export function proofOf(ownSecret: Key, peerPublic: Key, clientPublic: Key, serverPublic: Key): string {
  const shared = diffieHellman({ privateKey: privateKeyObject(ownSecret), publicKey: publicKeyObject(peerPublic) });
  return createHmac("sha256", shared)
    .update(PROOF_LABEL)
    .update(z85Decode(clientPublic) as Buffer)
    .update(z85Decode(serverPublic) as Buffer)
    .digest("base64url");
}

/** The proof a client sends to the server with key `serverPublic` (see proofOf). */
export function clientProof(client: KeyPair, serverPublic: Key): string {
  return proofOf(client.secretKey, serverPublic, client.publicKey, serverPublic);
}

/**
 * A server's check of proofs: it remembers the expected proof of each key it has seen (an X25519
 * exchange costs ~30 µs, a lookup well under one), up to `capacity` keys, oldest forgotten first.
 */
export class ProofVerifier {
  private readonly expected = new Map<Key, { proof: Buffer; userId: string }>();

  constructor(
    private readonly server: KeyPair,
    private readonly capacity = 65_536,
  ) {}

  /** The user id of `key` if `proof` is its proof for this server; undefined if not. */
  verify(key: Key, proof: string): string | undefined {
    let want = this.expected.get(key);
    if (want === undefined) {
      want = {
        proof: Buffer.from(proofOf(this.server.secretKey, key, key, this.server.publicKey)),
        userId: userIdOf(key),
      };
      if (this.expected.size >= this.capacity) this.expected.delete(this.expected.keys().next().value as Key);
      this.expected.set(key, want);
    }
    const got = Buffer.from(proof);
    return got.length === want.proof.length && timingSafeEqual(got, want.proof) ? want.userId : undefined;
  }
}

/**
 * A user as a person names one (`gm user remove`, `invite`): a public key (Z85 or hex, turned
 * into its user id), a user id, or a fingerprint (8 or more hex digits of the id), in the wire
 * form of validate.ts's userRef. Throws BAD_REQUEST naming `what`.
 */
export function userRefOf(text: string, what = "user"): string {
  const t = text.trim();
  if (keyBytes(t) !== undefined) return userIdOf(parseKey(t, what));
  const hex = t.replaceAll("-", "");
  if (/^[0-9a-fA-F]{32}$/.test(hex) && (t === hex || /^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/i.test(t))) {
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`.toLowerCase();
  }
  if (/^[0-9a-fA-F]{8,31}$/.test(t)) return t.toLowerCase();
  if (/^[0-9a-fA-F]{1,7}$/.test(t)) {
    throw badRequest(`${what} "${t}" is too short: a fingerprint has at least 8 hex digits (as gm shows them)`);
  }
  throw badRequest(
    `${what} "${t}" must be a public key (40 characters of Z85 or 64 hex digits), a user id, or a fingerprint (8 or more hex digits)`,
  );
}
