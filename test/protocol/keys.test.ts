import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as zmq from "zeromq";
import {
  clientProof,
  fingerprintOf,
  isKey,
  keyBytes,
  newKeyPair,
  ProofVerifier,
  parseKey,
  publicKeyOf,
  userIdOf,
  z85Decode,
  z85Encode,
} from "../../src/protocol/keys.js";

describe("CURVE keys", () => {
  test("Z85 matches the RFC 32 example and ZeroMQ's own keys", () => {
    assert.equal(z85Encode(Buffer.from("864FD26FB559F75B", "hex")), "HelloWorld");
    assert.equal(z85Decode("HelloWorld")?.toString("hex"), "864fd26fb559f75b");
    const pair = zmq.curveKeyPair();
    assert.equal(z85Encode(z85Decode(pair.publicKey) as Buffer), pair.publicKey);
    assert.equal(publicKeyOf(pair.secretKey), pair.publicKey, "our X25519 is libzmq's Curve25519");
    assert.equal(z85Decode("Hell"), undefined, "not a multiple of 5 characters");
    assert.equal(z85Decode("Hell\u00e9"), undefined, "a character outside the alphabet");
    assert.equal(z85Decode("#####"), undefined, "a group above 2^32");
  });

  test("keys are taken as Z85 or hex, anything else is refused by name", () => {
    const { publicKey } = newKeyPair();
    const hex = (keyBytes(publicKey) as Buffer).toString("hex");
    assert.equal(parseKey(hex), publicKey);
    assert.equal(parseKey(` ${publicKey}\n`), publicKey);
    assert.equal(isKey(publicKey), true);
    assert.equal(isKey(publicKey.slice(1)), false);
    assert.throws(() => parseKey("not a key", "--server-key"), /--server-key must be a CURVE public key/);
  });

  test("a key's user id is a version-8 UUID from its hash, and its fingerprint starts it", () => {
    const { publicKey } = newKeyPair();
    const id = userIdOf(publicKey);
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(userIdOf(publicKey), id, "stable");
    assert.notEqual(userIdOf(newKeyPair().publicKey), id);
    assert.equal(fingerprintOf(id), id.slice(0, 8));
  });

  test("a proof verifies only for the key that made it, at the server it was made for", () => {
    const server = newKeyPair();
    const other = newKeyPair();
    const alice = newKeyPair();
    const mallory = newKeyPair();
    const verifier = new ProofVerifier(server, 2);
    assert.equal(verifier.verify(alice.publicKey, clientProof(alice, server.publicKey)), userIdOf(alice.publicKey));
    // Mallory claims Alice's key with a proof of her own, or with Alice's proof for another server.
    assert.equal(verifier.verify(alice.publicKey, clientProof(mallory, server.publicKey)), undefined);
    assert.equal(verifier.verify(alice.publicKey, clientProof(alice, other.publicKey)), undefined);
    assert.equal(verifier.verify(alice.publicKey, "x"), undefined);
    // Beyond its capacity the verifier forgets old keys and still answers right.
    for (const k of [mallory, other, alice]) {
      assert.equal(verifier.verify(k.publicKey, clientProof(k, server.publicKey)), userIdOf(k.publicKey));
    }
  });
});

describe("userRefOf: a user as a person names one", async () => {
  const {
    userRefOf,
    newKeyPair: fresh,
    userIdOf: idOf,
    z85Decode: decode,
  } = await import("../../src/protocol/keys.js");
  test("a key (Z85 or hex) becomes its user id; an id or fingerprint is normalized", () => {
    const keys = fresh();
    const id = idOf(keys.publicKey);
    assert.equal(userRefOf(keys.publicKey), id);
    assert.equal(userRefOf((decode(keys.publicKey) as Buffer).toString("hex").toUpperCase()), id);
    assert.equal(userRefOf(` ${id.toUpperCase()} `), id);
    assert.equal(userRefOf(id.replaceAll("-", "")), id);
    assert.equal(userRefOf(id.slice(0, 8).toUpperCase()), id.slice(0, 8));
  });
  test("too short or not a user is BAD_REQUEST with a message that says what is wanted", () => {
    assert.throws(() => userRefOf("abc1234", "member"), {
      code: "BAD_REQUEST",
      message: 'member "abc1234" is too short: a fingerprint has at least 8 hex digits (as gm shows them)',
    });
    assert.throws(() => userRefOf("alice"), {
      code: "BAD_REQUEST",
      message: /must be a public key .*, a user id, or a fingerprint/,
    });
  });
});
