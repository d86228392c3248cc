/**
 * The attack: a client registering fake groups as fast as it can (50,000 in 2 s before the caps).
 * A raw DEALER pipelines REGISTERs at a real directory with the real limits: beyond
 * Limits.directoryGroups in all, and beyond Limits.directoryGroupsPerKey from one group server key
 * on a secure directory, each gets 400 TOO_MANY_GROUPS, and a refreshed registration still works.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, test } from "node:test";
import * as zmq from "zeromq";
import { Directory } from "../../src/directory/directory.js";
import { RpcServer } from "../../src/net/rpc-server.js";
import { clientOptions } from "../../src/net/security.js";
import { Limits, SIGNATURE } from "../../src/protocol/constants.js";
import { clientProof, type KeyPair, newKeyPair } from "../../src/protocol/keys.js";

const servers: RpcServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

/** Sends REGISTER of `names` pipelined on one socket; returns each reply's error code ("" for 200). */
async function registerAll(
  endpoint: string,
  names: readonly string[],
  signer?: { keys: KeyPair; serverKey: string },
): Promise<string[]> {
  const socket = new zmq.Dealer({
    linger: 0,
    receiveTimeout: 20_000,
    sendHighWaterMark: 0,
    ...clientOptions(signer && { keys: signer.keys, serverKey: signer.serverKey }),
  });
  socket.connect(endpoint);
  try {
    const auth = signer && { key: signer.keys.publicKey, proof: clientProof(signer.keys, signer.serverKey) };
    const sending = (async () => {
      for (const [i, name] of names.entries()) {
        const body = { name, id: randomUUID(), address: `tcp://127.0.0.1:${1 + (i % 60000)}`, ...auth };
        await socket.send(`${SIGNATURE} REGISTER ${i}\n${JSON.stringify(body)}`);
      }
    })();
    const codes = new Array<string>(names.length);
    for (let n = 0; n < names.length; n++) {
      const text = String((await socket.receive())[0]);
      const lf = text.indexOf("\n");
      const [, status, id] = text.slice(0, lf).split(" ");
      codes[Number(id)] = status === "200" ? "" : (JSON.parse(text.slice(lf + 1)).code as string);
    }
    await sending;
    return codes;
  } finally {
    socket.close();
  }
}

describe("directory registration caps", () => {
  test(`beyond ${Limits.directoryGroups} live groups in all, REGISTER gets TOO_MANY_GROUPS`, async () => {
    const log: string[] = [];
    // A stopped clock: on a loaded machine the 10,500 REGISTERs took over the 5 s TTL, the first
    // ones expired, and 10,393 were let in, rightly, since expired ones do not count.
    const rpc = new RpcServer({ handlers: new Directory({ log: (l) => log.push(l), now: () => 0 }).handlers });
    servers.push(rpc);
    const endpoint = await rpc.listen("tcp://127.0.0.1:*");
    const names = Array.from({ length: Limits.directoryGroups + 500 }, (_, i) => `fake-${i}`);
    const codes = await registerAll(endpoint, names);
    assert.equal(codes.filter((c) => c === "").length, Limits.directoryGroups);
    assert.deepEqual(new Set(codes.slice(Limits.directoryGroups)), new Set(["TOO_MANY_GROUPS"]));
    // A registered group still refreshes at the cap; the refusals cost the log one line.
    assert.deepEqual(await registerAll(endpoint, ["fake-0"]), [""]);
    assert.equal(log.filter((l) => l.startsWith("REFUSED REGISTER")).length, 1);
  });

  test(`a secure directory takes at most ${Limits.directoryGroupsPerKey} live groups from one key`, async () => {
    const directoryKeys = newKeyPair();
    const rpc = new RpcServer({ handlers: new Directory({ now: () => 0 }).handlers, keys: directoryKeys });
    servers.push(rpc);
    const endpoint = await rpc.listen("tcp://127.0.0.1:*");
    const flooder = { keys: newKeyPair(), serverKey: directoryKeys.publicKey };
    const names = Array.from({ length: Limits.directoryGroupsPerKey + 50 }, (_, i) => `spam-${i}`);
    const codes = await registerAll(endpoint, names, flooder);
    assert.equal(codes.filter((c) => c === "").length, Limits.directoryGroupsPerKey);
    assert.deepEqual(new Set(codes.slice(Limits.directoryGroupsPerKey)), new Set(["TOO_MANY_GROUPS"]));
    // Another group server's key is not affected.
    const honest = { keys: newKeyPair(), serverKey: directoryKeys.publicKey };
    assert.deepEqual(await registerAll(endpoint, ["lobby"], honest), [""]);
  });
});
