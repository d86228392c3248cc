import assert from "node:assert/strict";
import { describe, type TestContext, test } from "node:test";
import * as zmq from "zeromq";
import { RpcClient } from "../../src/net/rpc-client.js";
import { RpcServer } from "../../src/net/rpc-server.js";
import { HandshakeError } from "../../src/protocol/errors.js";
import { type KeyPair, newKeyPair } from "../../src/protocol/keys.js";

/** A CURVE RpcServer answering PING with the signer's id, refusing `deny` at the handshake. */
async function secureServer(t: TestContext, keys: KeyPair, deny: KeyPair[] = []) {
  const log: string[] = [];
  const server = new RpcServer({
    keys,
    deny: deny.map((k) => k.publicKey),
    handlers: { PING: (r) => ({ you: r.peerId }) },
    log: (line) => log.push(line),
  });
  const endpoint = await server.listen("tcp://127.0.0.1:*");
  t.after(() => server.close(100));
  return { endpoint, log };
}

function client(t: TestContext, endpoint: string, keys: KeyPair | undefined, serverKey: string): RpcClient {
  const c = new RpcClient(endpoint, { timeoutMs: 5000, tries: 1, ...(keys && { security: { keys, serverKey } }) });
  t.after(() => c.close());
  return c;
}

describe("the CURVE handshake and the ZAP handler", () => {
  test("a key on the deny list is refused at the handshake, at once; others are served", async (t) => {
    const server = newKeyPair();
    const alice = newKeyPair();
    const mallory = newKeyPair();
    const { endpoint } = await secureServer(t, server, [mallory]);
    const started = Date.now();
    await assert.rejects(client(t, endpoint, mallory, server.publicKey).request("PING", {}), (err: unknown) => {
      assert.ok(err instanceof HandshakeError, String(err));
      assert.match(
        err.message,
        /refused this client's key \([0-9a-f]{8}\) at the handshake: its operator has barred it/,
      );
      return true;
    });
    assert.ok(Date.now() - started < 4000, "a refusal, not a timeout");
    const reply = await client(t, endpoint, alice, server.publicKey).request<{ you: string }>("PING", {});
    assert.match(reply.you, /^[0-9a-f-]{36}$/);
  });

  test("plain and CURVE peers fail fast with an error that says which is which", async (t) => {
    const server = newKeyPair();
    const { endpoint } = await secureServer(t, server);
    await assert.rejects(
      client(t, endpoint, undefined, "").request("PING", {}),
      /uses CURVE encryption and this client runs with --insecure/,
    );
    const plain = new RpcServer({ handlers: { PING: () => ({}) } });
    const plainEndpoint = await plain.listen("tcp://127.0.0.1:*");
    t.after(() => plain.close(100));
    await assert.rejects(
      client(t, plainEndpoint, newKeyPair(), server.publicKey).request("PING", {}),
      /does not use CURVE encryption \(it runs with --insecure\?\)/,
    );
  });

  test("a client that expects another server key learns so, and a request without a proof is refused", async (t) => {
    const server = newKeyPair();
    const { endpoint, log } = await secureServer(t, server);
    await assert.rejects(
      client(t, endpoint, newKeyPair(), newKeyPair().publicKey).request("PING", {}),
      /does not hold the public key this client expects of it/,
    );
    // A raw CURVE client that never signs its requests.
    const me = newKeyPair();
    const raw = new zmq.Dealer({
      linger: 0,
      curveServerKey: server.publicKey,
      curvePublicKey: me.publicKey,
      curveSecretKey: me.secretKey,
    });
    t.after(() => raw.close());
    raw.connect(endpoint);
    await raw.send("GM/2 PING 1\n{}");
    const [reply] = await raw.receive();
    assert.match(String(reply), /^GM\/2 400 1\n\{"code":"AUTH_REQUIRED"/);
    await raw.send(`GM/2 PING 2\n${JSON.stringify({ key: me.publicKey, proof: "forged" })}`);
    assert.match(String((await raw.receive())[0]), /^GM\/2 400 2\n\{"code":"BAD_PROOF"/);
    assert.ok(log.some((l) => /refused a PING request: AUTH_REQUIRED/.test(l)));
  });

  test("a flood of refused handshakes does not stop the server or flood its log", async (t) => {
    const server = newKeyPair();
    const banned = newKeyPair();
    const { endpoint, log } = await secureServer(t, server, [banned]);
    const alice = client(t, endpoint, newKeyPair(), server.publicKey);
    const flood: zmq.Dealer[] = [];
    t.after(() => {
      for (const s of flood) s.close();
    });
    let refusals = 0;
    for (let i = 0; i < 200; i++) {
      const s = new zmq.Dealer({
        linger: 0,
        curveServerKey: server.publicKey,
        curvePublicKey: banned.publicKey,
        curveSecretKey: banned.secretKey,
      });
      s.events.on("handshake:error:auth", () => refusals++);
      s.connect(endpoint);
      flood.push(s);
    }
    // Alice is served while the flood goes on; then wait until every flooder was refused once.
    for (let i = 0; i < 20; i++) await alice.request("PING", {});
    const until = Date.now() + 20_000;
    while (refusals < 200 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.ok(refusals >= 200, `${refusals} refusals seen`);
    const zapLines = log.filter((l) => l.startsWith("refused the handshake"));
    assert.ok(zapLines.length <= 2, `${zapLines.length} log lines for ${refusals} refusals`);
    await alice.request("PING", {});
  });
});
