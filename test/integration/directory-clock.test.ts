/**
 * Issue 14: the directory's liveness is a duration, so the wall clock being set back or ahead
 * (by an operator, or a bad NTP step) must neither keep a dead group listed, and its name taken,
 * nor drop the live ones. Date.now is made adjustable for the test, as if someone set the clock.
 */
import assert from "node:assert/strict";
import { describe, type TestContext, test } from "node:test";
import { Directory } from "../../src/directory/directory.js";
import { RpcClient } from "../../src/net/rpc-client.js";
import { RpcServer } from "../../src/net/rpc-server.js";

const REGISTER = { name: "general", id: "3d564049-c56f-452a-a569-8a0467130061", address: "tcp://127.0.0.1:6001" };

/** A directory (TTL `ttlMs`) on a real socket behind a wall clock the test can move. */
async function setup(t: TestContext, ttlMs: number) {
  const real = Date.now;
  const clock = { offset: 0 };
  Date.now = () => real() + clock.offset;
  t.after(() => {
    Date.now = real;
  });
  const rpc = new RpcServer({ handlers: new Directory({ ttlMs }).handlers });
  const endpoint = await rpc.listen("tcp://127.0.0.1:*");
  const client = new RpcClient(endpoint, { timeoutMs: 3000, tries: 1 });
  t.after(async () => {
    await client.close();
    await rpc.close(0);
  });
  const names = async () =>
    (await client.request<{ groups: Array<{ name: string }> }>("LIST", {})).groups.map((g) => g.name);
  return { clock, real, client, names };
}

describe("the directory's liveness ignores the wall clock", () => {
  test("a wall clock set back an hour does not keep a dead group listed", async (t) => {
    const { clock, real, client, names } = await setup(t, 300);
    await client.request("REGISTER", REGISTER);
    assert.deepEqual(await names(), ["general"]);
    clock.offset = -3_600_000;
    const deadline = real() + 5000;
    let listed = await names();
    while (listed.length > 0 && real() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      listed = await names();
    }
    assert.deepEqual(listed, [], "dropped once its TTL passed, as if the clock had not moved");
  });

  test("a wall clock set ahead an hour does not drop a live group", async (t) => {
    const { clock, client, names } = await setup(t, 5000);
    await client.request("REGISTER", REGISTER);
    clock.offset = 3_600_000;
    assert.deepEqual(await names(), ["general"]);
  });
});
