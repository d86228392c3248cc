/**
 * Issue 14: a secure directory's name bindings lapse and are capped, over real CURVE sockets on
 * 127.0.0.1 with the real bindings file in a temp dir. The bindings' clocks are given to them so
 * that a month can pass; the attacker is another group server key taking a name.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, type TestContext, test } from "node:test";
import { Directory } from "../../src/directory/directory.js";
import { NameBindings } from "../../src/directory/names.js";
import { RpcClient } from "../../src/net/rpc-client.js";
import { RpcServer } from "../../src/net/rpc-server.js";
import { type KeyPair, newKeyPair } from "../../src/protocol/keys.js";

const DAY = 24 * 60 * 60 * 1000;
const root = mkdtempSync(join(tmpdir(), "gm-name-lapse-"));
after(() => rmSync(root, { recursive: true, force: true }));

/** A secure directory whose bindings (in `file`) run on clocks the test moves. */
async function directory(t: TestContext, file: string, max?: number) {
  const clock = { mono: 0, wall: Date.parse("2026-03-01T00:00:00.000Z") };
  const names = new NameBindings(file, {
    lapseMs: 30 * DAY,
    ...(max !== undefined && { max }),
    now: () => clock.mono,
    wallNow: () => clock.wall,
  });
  const log: string[] = [];
  const keys = newKeyPair();
  const rpc = new RpcServer({ handlers: new Directory({ names, log: (l) => log.push(l) }).handlers, keys });
  const endpoint = await rpc.listen("tcp://127.0.0.1:*");
  t.after(() => rpc.close(0));
  const client = (own: KeyPair) => {
    const c = new RpcClient(endpoint, {
      timeoutMs: 5000,
      tries: 1,
      security: { keys: own, serverKey: keys.publicKey },
    });
    t.after(() => c.close());
    return c;
  };
  const advance = (ms: number) => {
    clock.mono += ms;
    clock.wall += ms;
  };
  const owners = () =>
    Object.fromEntries(
      Object.entries((JSON.parse(readFileSync(file, "utf8")) as { names: Record<string, { key: string }> }).names).map(
        ([n, b]) => [n, b.key],
      ),
    );
  return { client, advance, owners, log };
}

const register = (c: RpcClient, name: string, port: number) =>
  c.request("REGISTER", { name, id: randomUUID(), address: `tcp://127.0.0.1:${port}` });

describe("a secure directory's name bindings lapse and are capped", () => {
  test("a name unregistered for 30 days can be taken by another key; one still registered cannot", async (t) => {
    const file = join(root, "lapse.json");
    const { client, advance, owners, log } = await directory(t, file);
    const ownerKeys = newKeyPair();
    const owner = client(ownerKeys);
    const attacker = client(newKeyPair());
    await register(owner, "general", 7001);
    await register(owner, "lobby", 7002);
    await owner.request("UNREGISTER", { name: "general", address: "tcp://127.0.0.1:7001" });
    advance(29 * DAY);
    await register(owner, "lobby", 7002); // lobby's group server keeps registering it
    await assert.rejects(register(attacker, "general", 9001), { code: "FORBIDDEN" });
    advance(2 * DAY); // general: 31 days unregistered; lobby: 2 days
    await assert.rejects(register(attacker, "LOBBY", 9002), {
      code: "FORBIDDEN",
      message: /"LOBBY" \(bound as "lobby"/,
    });
    await register(attacker, "general", 9001);
    assert.ok(log.some((l) => /^BOUND GROUP NAME "general" to key /.test(l)));
    // The file says so too: a restart does not give the name back.
    const attackerKey = (await attacker.request<{ groups: { name: string; key: string }[] }>("LIST", {})).groups.find(
      (g) => g.name === "general",
    )?.key;
    assert.deepEqual(owners(), { general: attackerKey, lobby: ownerKeys.publicKey });
    assert.notEqual(attackerKey, ownerKeys.publicKey);
  });

  test("at the bindings cap a new name gets TOO_MANY_GROUPS; bound names still register", async (t) => {
    const file = join(root, "cap.json");
    const { client, advance, owners, log } = await directory(t, file, 2);
    const owner = client(newKeyPair());
    const flooder = client(newKeyPair());
    await register(flooder, "spam-1", 8001);
    await register(owner, "general", 7001);
    await assert.rejects(register(flooder, "spam-2", 8002), {
      code: "TOO_MANY_GROUPS",
      message: /this directory holds 2 group name bindings, its limit; "spam-2" can register when one lapses/,
    });
    await assert.rejects(register(owner, "random", 7002), { code: "TOO_MANY_GROUPS" });
    await register(owner, "general", 7001); // a refresh of a bound name passes at the cap
    assert.deepEqual(Object.keys(owners()), ["general", "spam-1"]);
    assert.equal(log.filter((l) => l.startsWith("REFUSED REGISTER of")).length, 1, "refusals: one log line");
    // spam-1's flooder stops; a month on, its binding has lapsed and makes room.
    await flooder.request("UNREGISTER", { name: "spam-1", address: "tcp://127.0.0.1:8001" });
    advance(20 * DAY);
    await register(owner, "general", 7001);
    advance(11 * DAY);
    await register(owner, "random", 7002);
    assert.deepEqual(Object.keys(owners()), ["general", "random"]);
  });
});
