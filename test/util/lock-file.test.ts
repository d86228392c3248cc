import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { LockError } from "../../src/protocol/errors.js";
import { withFileLock } from "../../src/util/lock-file.js";
import { GmProcess } from "../helpers/gm.js";

const COUNTER = resolve(import.meta.dirname, "../helpers/lock-counter.ts");
const dir = mkdtempSync(join(tmpdir(), "gm-lock-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The pid of a process that has exited (and so holds nothing). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", ""]);
  return r.pid as number;
}

/** Runs `count` processes that each add 1 to `file` `times` times under its lock, all at once. */
async function countTogether(file: string, count: number, times: number): Promise<number> {
  const procs = Array.from({ length: count }, () => new GmProcess([file, String(times)], {}, { script: COUNTER }));
  try {
    await Promise.all(procs.map((p) => p.waitFor(/ready/, 30_000)));
    for (const p of procs) p.write("go");
    const codes = await Promise.all(procs.map((p) => p.exited));
    assert.deepEqual(
      codes,
      procs.map(() => 0),
      procs.map((p) => p.stderr).join("\n"),
    );
  } finally {
    await Promise.all(procs.map((p) => p.stop("SIGKILL")));
  }
  return Number(readFileSync(file, "utf8"));
}

describe("withFileLock", () => {
  test("processes that read, change and write one file under it lose no update", { timeout: 60_000 }, async () => {
    const file = join(dir, "counter");
    writeFileSync(file, "0");
    assert.equal(await countTogether(file, 4, 150), 600);
    assert.equal(existsSync(`${file}.lock`), false, "released");
  });

  test("a lock left by a dead process is broken, also by several processes at once", { timeout: 60_000 }, async () => {
    const file = join(dir, "stale");
    writeFileSync(file, "0");
    writeFileSync(`${file}.lock`, `${deadPid()} ${hostname()} 0123456789abcdef\n`);
    // Every process finds the same stale lock; exactly one breaks it, and none breaks a live one.
    assert.equal(await countTogether(file, 4, 50), 200);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith("stale.")),
      [],
      "no lock, guard or temporary file is left",
    );
  });

  test("a stale guard of a breaker that died is broken too", () => {
    const file = join(dir, "guarded");
    const stale = `${deadPid()} ${hostname()} aaaaaaaaaaaaaaaa\n`;
    writeFileSync(`${file}.lock`, stale);
    writeFileSync(`${file}.lock.break-aaaaaaaaaaaaaaaa`, `${deadPid()} ${hostname()} bbbbbbbbbbbbbbbb\n`);
    assert.equal(
      withFileLock(file, () => 42, { waitMs: 2000 }),
      42,
    );
    assert.equal(existsSync(`${file}.lock`), false);
  });

  test("a live holder, or one on another host, is waited for and then named", () => {
    const file = join(dir, "held");
    for (const line of [`${process.ppid} ${hostname()} cccccccccccccccc\n`, `1 elsewhere.example dddddddddddddddd\n`]) {
      writeFileSync(`${file}.lock`, line);
      let ran = false;
      assert.throws(
        () =>
          withFileLock(
            file,
            () => {
              ran = true;
            },
            { waitMs: 200 },
          ),
        (err: unknown) => {
          assert.ok(err instanceof LockError);
          assert.match(err.message, /is locked by process \d+ on (this host|elsewhere\.example) for over 0 s/);
          assert.match(err.message, /remove the lock file/);
          return true;
        },
      );
      assert.equal(ran, false);
      assert.equal(readFileSync(`${file}.lock`, "utf8"), line, "a live holder's lock is left alone");
    }
    rmSync(`${file}.lock`);
  });

  test("releases the lock when the guarded code throws, and refuses to be taken twice", () => {
    const file = join(dir, "throws");
    assert.throws(() =>
      withFileLock(file, () => {
        throw new Error("boom");
      }),
    );
    assert.equal(existsSync(`${file}.lock`), false);
    assert.throws(() => withFileLock(file, () => withFileLock(file, () => 1)), /already held by this process/);
    assert.equal(existsSync(`${file}.lock`), false);
  });
});
