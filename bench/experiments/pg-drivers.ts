/**
 * Which PostgreSQL driver the PostgreSQL store should use (issue 16): `pg` (node-postgres) or
 * `postgres` (porsager/postgres), measured against a throwaway cluster (test/helpers/postgres.ts,
 * fsync and synchronous_commit on, stopped at the end) with 100-byte rows, as gm's messages are:
 *
 *   single   one-row INSERT, each its own commit, one at a time: p50 / p99 latency (a pg Pool
 *            sends the statement unnamed, parsed every time; a pg Client here names it, so the
 *            server prepares it once, as postgres does by default)
 *   batch    32 clients, each sending one 32-row INSERT (one commit) after another, for
 *            `--seconds`: rows per second, and the CPU this process used per row. Each driver
 *            over one connection (pipelined, where it can) and over a pool of 32 and of 4
 *   failover a connection string with a dead host, then a read-only server (a second cluster with
 *            default_transaction_read_only=on, which target_session_attrs=read-write must skip),
 *            then the writable one: does the driver reach the writable one?
 *
 *   node --import tsx bench/experiments/pg-drivers.ts [--single 2000] [--seconds 5]
 */
import { parseArgs } from "node:util";
import pg from "pg";
import postgres from "postgres";
import { freePort, type PostgresCluster, startPostgres } from "../../test/helpers/postgres.js";

const { values } = parseArgs({
  options: {
    single: { type: "string", default: "2000" },
    seconds: { type: "string", default: "5" },
  },
});
const SINGLE = Number(values.single);
const SECONDS = Number(values.seconds);
const CLIENTS = 32;
const BATCH = 32;
const BODY = "x".repeat(100);

/** What a driver has to do here, however it does it. */
interface Driver {
  readonly name: string;
  /** Runs one statement (autocommit: its own transaction). */
  query(text: string, params: readonly unknown[]): Promise<unknown>;
  close(): Promise<void>;
}

function pgPool(url: string, max: number): Driver {
  const pool = new pg.Pool({ connectionString: url, max });
  return {
    name: `pg Pool max ${max}`,
    query: (text, params) => pool.query(text, params as unknown[]),
    close: () => pool.end(),
  };
}

/**
 * One pg Client, its statements prepared (named) as postgres prepares its own; `pipeline` sends
 * each query without waiting for the answer to the one before.
 */
async function pgClient(url: string, pipeline: boolean): Promise<Driver> {
  const client = new pg.Client({ connectionString: url, pipeline });
  await client.connect();
  const names = new Map<string, string>();
  return {
    name: pipeline ? "pg Client pipeline, prepared" : "pg Client, prepared",
    query: (text, values) => {
      const name = names.get(text) ?? `s${names.size}`;
      names.set(text, name);
      return client.query({ name, text, values: values as unknown[] });
    },
    close: () => client.end(),
  };
}

function porsager(url: string, max: number): Driver {
  const sql = postgres(url, { max, onnotice: () => {} });
  return {
    name: max === 1 ? "postgres max 1 (pipelined)" : `postgres max ${max}`,
    query: (text, params) => sql.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true }),
    close: () => sql.end({ timeout: 5 }),
  };
}

const insertOne = "INSERT INTO gm.rows (body) VALUES ($1)";
const insertBatch = `INSERT INTO gm.rows (body) VALUES ${Array.from({ length: BATCH }, (_, i) => `($${i + 1})`).join(", ")}`;
const batchParams = Array.from({ length: BATCH }, () => BODY);

const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

async function single(driver: Driver): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 100; i++) await driver.query(insertOne, [BODY]); // warm-up: connect, prepare
  const ms: number[] = [];
  for (let i = 0; i < SINGLE; i++) {
    const t = process.hrtime.bigint();
    await driver.query(insertOne, [BODY]);
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((a, b) => a - b);
  return { p50: percentile(ms, 50), p99: percentile(ms, 99) };
}

async function batches(driver: Driver): Promise<{ rowsPerSecond: number; cpuUsPerRow: number }> {
  await Promise.all(Array.from({ length: CLIENTS }, () => driver.query(insertBatch, batchParams))); // warm-up
  let rows = 0;
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  const end = start + BigInt(SECONDS * 1e9);
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (process.hrtime.bigint() < end) {
        await driver.query(insertBatch, batchParams);
        rows += BATCH;
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  return { rowsPerSecond: rows / seconds, cpuUsPerRow: (used.user + used.system) / rows };
}

/** Which port the driver ended up on through a multi-host string, or the error it gave. */
async function failover(writable: PostgresCluster, readOnly: PostgresCluster): Promise<Record<string, string>> {
  const hosts = `127.0.0.1:${await freePort()},127.0.0.1:${readOnly.port},127.0.0.1:${writable.port}`;
  const url = `postgres://postgres@${hosts}/postgres?target_session_attrs=read-write`;
  const where = (port: unknown) =>
    Number(port) === writable.port ? `reached the writable server (${port})` : `reached port ${port}: WRONG`;
  const out: Record<string, string> = { url };
  try {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
    await client.connect();
    const r = await client.query("SELECT inet_server_port() AS port");
    out.pg = where(r.rows[0].port);
    await client.end();
  } catch (e) {
    out.pg = `error: ${(e as Error).message}`;
  }
  const sql = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => {} });
  try {
    const r = await sql`SELECT inet_server_port() AS port`;
    out.postgres = where(r[0]?.port);
  } catch (e) {
    out.postgres = `error: ${(e as Error).message}`;
  } finally {
    await sql.end({ timeout: 5 });
  }
  return out;
}

const cluster = await startPostgres({ settings: { synchronous_commit: "on", fsync: "on", max_connections: "120" } });
const readOnly = await startPostgres({ settings: { default_transaction_read_only: "on" } });
try {
  const setup = new pg.Client({ connectionString: cluster.url });
  await setup.connect();
  await setup.query("CREATE SCHEMA gm");
  await setup.query("CREATE TABLE gm.rows (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text NOT NULL)");
  const settings = await setup.query(
    "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'wal_sync_method', 'server_version')",
  );
  console.log(Object.fromEntries(settings.rows.map((r) => [r.name, r.setting])));
  const truncate = () => setup.query("TRUNCATE gm.rows");

  console.log(`\nsingle: one-row INSERT + commit, one at a time, ${SINGLE} times (ms)`);
  for (const make of [
    () => pgPool(cluster.url, 1),
    () => pgClient(cluster.url, false),
    () => porsager(cluster.url, 1),
  ]) {
    await truncate();
    const driver = await make();
    const r = await single(driver);
    await driver.close();
    console.log(`  ${driver.name.padEnd(30)} p50 ${r.p50.toFixed(3)}  p99 ${r.p99.toFixed(3)}`);
  }

  console.log(`\nbatch: ${CLIENTS} clients, ${BATCH}-row INSERT per commit, ${SECONDS} s each`);
  const layouts: (() => Driver | Promise<Driver>)[] = [
    () => pgClient(cluster.url, true),
    () => porsager(cluster.url, 1),
    () => pgPool(cluster.url, 4),
    () => porsager(cluster.url, 4),
    () => pgPool(cluster.url, CLIENTS),
    () => porsager(cluster.url, CLIENTS),
  ];
  for (const make of layouts) {
    await truncate();
    const driver = await make();
    const r = await batches(driver);
    await driver.close();
    console.log(
      `  ${driver.name.padEnd(30)} ${Math.round(r.rowsPerSecond).toString().padStart(7)} rows/s  ${r.cpuUsPerRow.toFixed(1)} µs CPU/row (client)`,
    );
  }
  await setup.end();

  console.log("\nfailover: dead host, read-only server, writable server; target_session_attrs=read-write");
  for (const [k, v] of Object.entries(await failover(cluster, readOnly))) console.log(`  ${k}: ${v}`);
} finally {
  await readOnly.stop();
  await cluster.stop();
}
