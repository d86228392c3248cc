/**
 * The throwaway PostgreSQL cluster the PostgreSQL store's tests will run on
 * (test/helpers/postgres.ts), through the driver the store will use (`postgres`): a real server
 * on its own port and socket, durable commits, the errors `gm group` will have to explain at start
 * (wrong password, nothing listening), and nothing left behind after stop().
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import postgres from "postgres";
import { freePort, postgresSkip, startPostgres } from "../helpers/postgres.js";

const PASSWORD = "gm test password";

/** The error `work` rejects with (failing the test if it resolves). */
async function rejection(work: () => Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await work();
  } catch (e) {
    return e as Error & { code?: string };
  }
  assert.fail("expected an error");
}

describe("a throwaway PostgreSQL cluster", { skip: postgresSkip() }, () => {
  it("serves durable commits on its own port and socket, and is gone after stop()", async (t) => {
    const cluster = await startPostgres({ password: PASSWORD });
    t.after(() => cluster.stop());
    assert.equal(process.kill(cluster.pid, 0), true, "the server's pid is alive");
    assert.ok(existsSync(join(cluster.socketDir, `.s.PGSQL.${cluster.port}`)), "its socket is in its dir");

    const sql = postgres(cluster.url, { max: 1, onnotice: () => {} });
    t.after(() => sql.end({ timeout: 5 }));
    const [server] = await sql`SELECT inet_server_port() AS port, current_setting('synchronous_commit') AS sync`;
    assert.deepEqual({ ...server }, { port: cluster.port, sync: "on" });
    await sql`CREATE SCHEMA gm`;
    await sql`CREATE TABLE gm.messages (seq bigint PRIMARY KEY, body text NOT NULL)`;
    await sql`INSERT INTO gm.messages ${sql({ seq: 1, body: "hello" })}`;
    const rows = await sql`SELECT seq, body FROM gm.messages`;
    assert.deepEqual(
      rows.map((r) => ({ ...r })),
      [{ seq: "1", body: "hello" }],
    );

    // The Unix socket in the cluster's dir is a way in too (trusted: no password).
    const local = postgres({ host: cluster.socketDir, port: cluster.port, user: "postgres", max: 1 });
    t.after(() => local.end({ timeout: 5 }));
    const [count] = await local`SELECT count(*)::int AS n FROM gm.messages`;
    assert.equal(count?.n, 1);
    await local.end({ timeout: 5 });
    await sql.end({ timeout: 5 });

    const pid = cluster.pid;
    await cluster.stop();
    assert.throws(() => process.kill(pid, 0), { code: "ESRCH" }, "the server's pid is gone");
    assert.equal(existsSync(cluster.socketDir), false, "its dir is removed");
  });

  it("gives errors gm group can explain: wrong password, and nothing listening", async (t) => {
    const cluster = await startPostgres({ password: PASSWORD });
    t.after(() => cluster.stop());

    const wrong = postgres(`postgres://postgres:wrong@127.0.0.1:${cluster.port}/postgres`, { max: 1 });
    t.after(() => wrong.end({ timeout: 5 }));
    const denied = await rejection(() => wrong`SELECT 1`);
    // 28P01 invalid_password. The server's message names the user, not the host: gm group has
    // to say which host refused it.
    assert.equal(denied.code, "28P01", denied.message);
    assert.match(denied.message, /password authentication failed for user "postgres"/);

    const port = await freePort();
    const nobody = postgres(`postgres://postgres@127.0.0.1:${port}/postgres`, { max: 1, connect_timeout: 5 });
    t.after(() => nobody.end({ timeout: 5 }));
    const refused = await rejection(() => nobody`SELECT 1`);
    assert.equal(refused.code, "ECONNREFUSED", refused.message);
    assert.ok(refused.message.includes(`127.0.0.1:${port}`), `names the host: ${refused.message}`);
  });
});
