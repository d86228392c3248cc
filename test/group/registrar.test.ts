/**
 * The registrar against a real directory stand-in: an RpcServer on a loopback ephemeral port whose
 * REGISTER handler answers what each test needs. Only a 400 is a refusal; a directory that is
 * restarting (300), failing (500) or silent leaves the group pending, and the next round retries.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, type TestContext, test } from "node:test";
import { Registrar } from "../../src/group/registrar.js";
import { RpcServer } from "../../src/net/rpc-server.js";
import { ErrorCode, type ErrorCodeName, Status, type StatusCode } from "../../src/protocol/constants.js";
import { GmError } from "../../src/protocol/errors.js";

const INTERVAL_MS = 100;

/** A directory whose first `failures` REGISTERs get the given error, and the rest are accepted. */
async function directory(t: TestContext, failures: number, code: ErrorCodeName, status: StatusCode) {
  let registers = 0;
  const rpc = new RpcServer({
    handlers: {
      REGISTER: () => {
        registers++;
        if (registers <= failures) throw new GmError(code, `refusing REGISTER #${registers}`, status);
        return { ok: true };
      },
      UNREGISTER: () => ({ ok: true }),
    },
  });
  const endpoint = await rpc.listen("tcp://127.0.0.1:*");
  t.after(() => rpc.close());
  return { endpoint, registers: () => registers };
}

function registrar(t: TestContext, endpoint: string): { r: Registrar; state: () => string | undefined } {
  const logged: string[] = [];
  const r = new Registrar(
    endpoint,
    "tcp://127.0.0.1:1",
    [{ name: "general", id: randomUUID(), members: () => 0 }],
    (line) => logged.push(line),
    INTERVAL_MS,
  );
  t.after(() => r.stop());
  return { r, state: () => r.status.get("general")?.state };
}

/** Waits until `condition` holds, failing after `timeoutMs`. */
async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("Registrar", () => {
  for (const [label, code, status] of [
    ["300 SHUTTING_DOWN (a restarting directory)", ErrorCode.ShuttingDown, Status.TryAgain],
    ["500 INTERNAL (a failing directory)", ErrorCode.Internal, Status.ServerError],
  ] as const) {
    test(`${label} leaves the group pending, then registered`, async (t) => {
      const d = await directory(t, 3, code, status);
      const { r, state } = registrar(t, d.endpoint);
      await r.start();
      assert.equal(state(), "pending", "not a refusal: the directory may take it later");
      assert.match(r.status.get("general")?.detail ?? "", new RegExp(code));
      await until(() => state() === "registered", "the registration");
      assert.equal(d.registers(), 4);
    });
  }

  test("a 400 is a refusal (rejected), with the directory's message", async (t) => {
    const d = await directory(t, Number.POSITIVE_INFINITY, ErrorCode.NameTaken, Status.BadRequest);
    const { r, state } = registrar(t, d.endpoint);
    await r.start();
    assert.equal(state(), "rejected");
    assert.match(r.status.get("general")?.detail ?? "", /refusing REGISTER #1/);
  });

  test("a directory that does not answer leaves the group pending", async (t) => {
    const d = await directory(t, 0, ErrorCode.Internal, Status.ServerError);
    const silent = d.endpoint.replace(/:\d+$/, ":1"); // nothing listens on port 1
    const { r, state } = registrar(t, silent);
    await r.start();
    assert.equal(state(), "pending");
    assert.match(r.status.get("general")?.detail ?? "", /not answering/);
  });
});
