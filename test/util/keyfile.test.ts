import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { KeyFileError } from "../../src/protocol/errors.js";
import { publicKeyOf } from "../../src/protocol/keys.js";
import { loadOrCreateKeyFile, readKeyFile } from "../../src/util/keyfile.js";

describe("key files", () => {
  const dir = mkdtempSync(join(tmpdir(), "gm-keys-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("made on first use, readable by the owner alone, the same key ever after", () => {
    const file = join(dir, "a", "group.key");
    const made = loadOrCreateKeyFile(file, "a test");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, "a")).mode & 0o777, 0o700);
    assert.equal(readFileSync(join(dir, "a", "group.pub"), "utf8").trim(), made.publicKey);
    assert.equal(publicKeyOf(made.secretKey), made.publicKey);
    assert.deepEqual(loadOrCreateKeyFile(file, "a test"), made);
    assert.deepEqual(readKeyFile(file), made);
    // A .pub that no longer matches (copied over, say) is put right at the next use.
    writeFileSync(join(dir, "a", "group.pub"), "someone else's\n");
    loadOrCreateKeyFile(file, "a test");
    assert.equal(readFileSync(join(dir, "a", "group.pub"), "utf8").trim(), made.publicKey);
  });

  test("a key file others can read is refused, with the fix", () => {
    const file = join(dir, "open.key");
    loadOrCreateKeyFile(file, "a test");
    chmodSync(file, 0o644);
    assert.throws(
      () => readKeyFile(file),
      (err: unknown) => {
        assert.ok(err instanceof KeyFileError);
        assert.match(err.message, /readable by other users \(mode 644\): run "chmod 600 /);
        return true;
      },
    );
  });

  test("a damaged key file is refused, never replaced", () => {
    const file = join(dir, "bad.key");
    writeFileSync(file, "public = nope\n", { mode: 0o600 });
    assert.throws(() => loadOrCreateKeyFile(file, "a test"), /is not a gm keypair/);
    assert.equal(readFileSync(file, "utf8"), "public = nope\n", "left as it was");
    assert.equal(readKeyFile(join(dir, "missing.key")), undefined);
  });
});
