/**
 * `gm group --check` as an operator runs it: a bad name is bad usage, a store that does not exist
 * or lost its tables is said so in gm's words, the check creates nothing in the data dir, and a
 * store being served is reported as in use, not as damaged.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { gm, tempHome } from "../helpers/gm.js";

describe("gm group --check", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home };
  const dataDir = join(home, "data");
  const check = (...names: string[]) =>
    gm(["group", "--check", ...names.flatMap((n) => ["--name", n]), "--data-dir", dataDir], { env });

  after(cleanup);

  it("refuses a bad group name as bad usage (exit 2), in one line, as serving does", async () => {
    mkdirSync(dataDir, { recursive: true });
    const r = await check("../evil");
    assert.equal(r.exitCode, 2, r.stdout + r.stderr);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^Error: "name" must be a group name: .*\(BAD_REQUEST\)\n$/);
    assert.doesNotMatch(r.stderr, /UsageError|Caused by|at /);
    assert.equal(existsSync(join(home, "evil.db")), false);
    assert.deepEqual(readdirSync(dataDir), []);
  });

  it("says there is no store of a mistyped name (exit 1) instead of passing it as ok", async () => {
    const r = await check("genral");
    assert.equal(r.exitCode, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /Group genral: NO STORE/);
    assert.ok(
      r.stdout.includes(`there is no store of group "genral" in ${dataDir} (no genral.db, no genral.hwm)`),
      r.stdout,
    );
    assert.deepEqual(readdirSync(dataDir), [], "nothing was created");
  });
});
