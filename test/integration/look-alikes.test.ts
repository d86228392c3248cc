/**
 * Group names that differ only in case are one name (PROTOCOL.md §4): a real directory, group
 * server and client over CURVE on 127.0.0.1, and an attacker with a key of its own registering
 * the case-variant of a real group's name.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, type TestContext, test } from "node:test";
import { Directory } from "../../src/directory/directory.js";
import { NameBindings } from "../../src/directory/names.js";
import { GroupServer } from "../../src/group/group-server.js";
import { RpcClient } from "../../src/net/rpc-client.js";
import { RpcServer } from "../../src/net/rpc-server.js";
import type { GroupEntry } from "../../src/protocol/index.js";
import { type KeyPair, newKeyPair, userIdOf } from "../../src/protocol/keys.js";
import { sqliteStores } from "../../src/store/sqlite.js";

const LOOPBACK = "tcp://127.0.0.1:*";
const directoryKeys = newKeyPair();
const groupKeys = newKeyPair();

let root: string;
let directoryServer: RpcServer;
let directoryEndpoint: string;
const directoryLog: string[] = [];
let names: NameBindings;

/** An RpcClient signing with `keys` towards the directory. */
function signed(t: TestContext, keys: KeyPair): RpcClient {
  const c = new RpcClient(directoryEndpoint, {
    timeoutMs: 5000,
    tries: 1,
    security: { keys, serverKey: directoryKeys.publicKey },
  });
  t.after(() => c.close());
  return c;
}

async function directoryList(t: TestContext): Promise<GroupEntry[]> {
  return listed(signed(t, newKeyPair()));
}

async function listed(c: RpcClient): Promise<GroupEntry[]> {
  return (await c.request<{ groups: GroupEntry[] }>("LIST", {})).groups;
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), "gm-look-alikes-"));
  names = new NameBindings(join(root, "directory-names.json"));
  const directory = new Directory({ log: (l) => directoryLog.push(l), names });
  directoryServer = new RpcServer({ handlers: directory.handlers, keys: directoryKeys });
  directoryEndpoint = await directoryServer.listen(LOOPBACK);
});

after(async () => {
  await directoryServer?.close();
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
});

describe("the directory: names that differ only in case are one name", () => {
  test("another key registering GENERAL while general is bound → FORBIDDEN; LIST keeps one entry", async (t) => {
    const owner = signed(t, groupKeys);
    const id = randomUUID();
    await owner.request("REGISTER", { name: "general", id, address: "tcp://127.0.0.1:7001" });
    const attacker = signed(t, newKeyPair());
    for (const name of ["GENERAL", "General", "gEnErAl"]) {
      await assert.rejects(attacker.request("REGISTER", { name, id: randomUUID(), address: "tcp://127.0.0.1:9" }), {
        code: "FORBIDDEN",
        message: new RegExp(`"${name}" \\(bound as "general"; names that differ only in case are one name\\)`),
      });
      await assert.rejects(attacker.request("UNREGISTER", { name, address: "tcp://127.0.0.1:7001" }), {
        code: "FORBIDDEN",
      });
    }
    assert.ok(directoryLog.some((l) => /^REFUSED REGISTER of "GENERAL" by key .*as "general"$/.test(l)));
    const groups = (await listed(attacker)).filter((g) => g.name.toLowerCase() === "general");
    assert.deepEqual(
      groups.map((g) => [g.name, g.address, g.key]),
      [["general", "tcp://127.0.0.1:7001", groupKeys.publicKey]],
    );
    // The binding survives a restart of the directory under one spelling only.
    assert.equal(new NameBindings(join(root, "directory-names.json")).get("GENERAL"), groupKeys.publicKey);
  });

  test("the owner's own key in another case, same address: a refresh, still one entry", async (t) => {
    const owner = signed(t, groupKeys);
    const id = randomUUID();
    await owner.request("REGISTER", { name: "Lobby", id, address: "tcp://127.0.0.1:7002" });
    await owner.request("REGISTER", { name: "LOBBY", id, address: "tcp://127.0.0.1:7002" });
    const lobby = (await listed(owner)).filter((g) => g.name.toLowerCase() === "lobby");
    assert.deepEqual(
      lobby.map((g) => [g.name, g.id]),
      [["LOBBY", id]],
    );
    // From another address, even with the owner's key, the live name is taken.
    await assert.rejects(owner.request("REGISTER", { name: "lobby", id, address: "tcp://127.0.0.1:7003" }), {
      code: "NAME_TAKEN",
      message: /"lobby" is already registered from tcp:\/\/127\.0\.0\.1:7002 as "LOBBY"/,
    });
    await owner.request("UNREGISTER", { name: "lobby", address: "tcp://127.0.0.1:7002" });
    assert.equal((await listed(owner)).filter((g) => g.name.toLowerCase() === "lobby").length, 0);
  });

  test("an insecure directory: another address registering the case-variant → NAME_TAKEN", async (t) => {
    const plain = new RpcServer({ handlers: new Directory().handlers });
    const endpoint = await plain.listen(LOOPBACK);
    t.after(() => plain.close());
    const c = new RpcClient(endpoint, { timeoutMs: 5000, tries: 1 });
    t.after(() => c.close());
    await c.request("REGISTER", { name: "general", id: randomUUID(), address: "tcp://127.0.0.1:7001" });
    await assert.rejects(c.request("REGISTER", { name: "GENERAL", id: randomUUID(), address: "tcp://127.0.0.1:9" }), {
      code: "NAME_TAKEN",
    });
    assert.deepEqual(
      (await listed(c)).map((g) => [g.name, g.address]),
      [["general", "tcp://127.0.0.1:7001"]],
    );
  });

  test("a bindings file from an older gm with two case-variants loads: the first is kept", () => {
    const file = join(root, "old-names.json");
    const first = newKeyPair().publicKey;
    const second = newKeyPair().publicKey;
    writeFileSync(file, JSON.stringify({ names: { general: first, GENERAL: second, Same: first, SAME: first } }));
    const loaded = new NameBindings(file);
    assert.equal(loaded.get("GENERAL"), first);
    assert.equal(loaded.spelling("GENERAL"), "general");
    assert.equal(loaded.size, 2);
    assert.equal(loaded.dropped.length, 1); // the same key twice is no conflict
    assert.match(loaded.dropped[0] as string, /kept "general" \(the first\), ignored "GENERAL"/);
    assert.equal(loaded.release("GENERAL"), true);
    assert.equal(loaded.get("general"), undefined);
  });
});

describe("a group server: one group, one store, whatever the case", () => {
  test("two spellings of one name in one server → BAD_REQUEST, before any store is opened", async () => {
    const dataDir = join(root, "twice");
    await assert.rejects(
      GroupServer.start({ names: ["general", "GENERAL"], bind: LOOPBACK, openStore: sqliteStores(dataDir) }),
      { code: "BAD_REQUEST", message: /"general" and "GENERAL" are one group name/ },
    );
    assert.deepEqual(readdirSync(root).includes("twice") ? readdirSync(dataDir) : [], []);
  });

  test("a request for GENERAL reaches general; a restart as GENERAL opens general.db, no second file", async (t) => {
    const dataDir = join(root, "one-store");
    const userKeys = newKeyPair();
    const user = userIdOf(userKeys.publicKey);
    const start = (name: string) =>
      GroupServer.start({
        names: [name],
        bind: LOOPBACK,
        directory: directoryEndpoint,
        directoryKey: directoryKeys.publicKey,
        keys: groupKeys,
        openStore: sqliteStores(dataDir),
      });
    let server = await start("Plaza");
    t.after(() => server.close());
    const client = (s: GroupServer) => {
      const c = new RpcClient(s.endpoint, {
        timeoutMs: 5000,
        tries: 1,
        security: { keys: userKeys, serverKey: groupKeys.publicKey },
      });
      t.after(() => c.close());
      return c;
    };
    let c = client(server);
    const joined = await c.request<{ group: string; id: string }>("JOIN", { group: "PLAZA", user, name: "Ada" });
    assert.equal(joined.group, "Plaza");
    await c.request("SEND", { group: "plaza", user, id: randomUUID(), text: "one" });
    await server.close();

    server = await start("PLAZA");
    assert.equal(server.details()[0]?.name, "Plaza");
    assert.equal(server.details()[0]?.id, joined.id);
    assert.deepEqual(
      readdirSync(dataDir)
        .filter((f) => /\.(db|hwm)$/.test(f))
        .sort(),
      ["Plaza.db", "Plaza.hwm"],
    );
    c = client(server);
    const page = await c.request<{ group: string; messages: { text: string }[] }>("HISTORY", { group: "plaza", user });
    assert.deepEqual([page.group, page.messages.map((m) => m.text)], ["Plaza", ["one"]]);
    const listed = (await directoryList(t)).filter((g) => g.name.toLowerCase() === "plaza");
    assert.deepEqual(
      listed.map((g) => g.name),
      ["Plaza"],
    );
  });

  test("a data dir with stores of two case-variants (an older gm) is refused, naming both", async () => {
    const dataDir = join(root, "variants");
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, "Hall.db"), "");
    writeFileSync(join(dataDir, "HALL.db"), "");
    const started = GroupServer.start({ names: ["hall"], bind: LOOPBACK, openStore: sqliteStores(dataDir) });
    await started.then(
      (s) => s.close(),
      () => undefined,
    ); // were it to start, it is stopped all the same
    await assert.rejects(started, {
      message: /holds stores of "(Hall|HALL)" and "(Hall|HALL)", which are one group name/,
    });
    assert.deepEqual(readdirSync(dataDir).sort(), ["HALL.db", "Hall.db"]);
  });
});
