import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { ProfileError } from "../../src/protocol/errors.js";
import { userIdOf } from "../../src/protocol/keys.js";
import { Profile } from "../../src/user/profile.js";
import { GmProcess } from "../helpers/gm.js";

const WRITER = resolve(import.meta.dirname, "../helpers/profile-writer.ts");

const home = mkdtempSync(join(tmpdir(), "gm-profile-"));
after(() => rmSync(home, { recursive: true, force: true }));

const group = (address: string) => ({ id: "3d564049-c56f-452a-a569-8a0467130061", address, joined: 1 });

describe("Profile shared by several processes", () => {
  test("a change made through one instance is seen by another, and neither undoes the other's", () => {
    const shell = Profile.load("ada", home);
    const oneShot = Profile.load("ada", home);
    assert.equal(shell.data.uuid, oneShot.data.uuid, "one identity per profile");

    oneShot.update((d) => {
      d.groups.general = group("tcp://127.0.0.1:6001");
    });
    // The shell's view was loaded before that join; its own change must not drop it.
    shell.update((d) => {
      d.groups.random = group("tcp://127.0.0.1:6002");
    });
    assert.deepEqual(
      shell.joined().map((g) => g.name),
      ["general", "random"],
    );
    assert.deepEqual(Object.keys(JSON.parse(readFileSync(shell.file, "utf8")).groups).sort(), ["general", "random"]);

    oneShot.update((d) => {
      delete d.groups.general;
    });
    assert.deepEqual(
      shell.joined().map((g) => g.name),
      ["random"],
      "a leave elsewhere shows up in show_groups",
    );
  });

  test("processes changing it at once lose no join and no read marker", { timeout: 120_000 }, async () => {
    const setup = Profile.load("many", home);
    const count = 4;
    const times = 40;
    setup.update((d) => {
      d.groups.shared = { ...group("tcp://127.0.0.1:6001"), read: 0 };
      for (let i = 0; i < count; i++) d.groups[`own${i}`] = { ...group("tcp://127.0.0.1:6001"), read: 0 };
    });
    const writers = Array.from(
      { length: count },
      (_, i) => new GmProcess([home, "many", String(i), String(times)], {}, { script: WRITER }),
    );
    try {
      await Promise.all(writers.map((w) => w.waitFor(/ready/, 60_000)));
      for (const w of writers) w.write("go");
      const codes = await Promise.all(writers.map((w) => w.exited));
      assert.deepEqual(
        codes,
        writers.map(() => 0),
        writers.map((w) => w.stderr).join("\n"),
      );
    } finally {
      await Promise.all(writers.map((w) => w.stop("SIGKILL")));
    }
    const groups = Profile.load("many", home).data.groups;
    const lost = [];
    for (let i = 0; i < count; i++) {
      for (let k = 0; k < times; k++) if (groups[`w${i}-${k}`] === undefined) lost.push(`w${i}-${k}`);
    }
    assert.deepEqual(lost, [], "every join is kept");
    for (let i = 0; i < count; i++) assert.equal(groups[`own${i}`]?.read, times, `own${i}'s marker`);
    assert.equal(groups.shared?.read, (count - 1) * 1000 + times - 1, "the shared marker is the highest written");
  });

  test("refresh keeps the in-memory identity if the file was replaced by another one", () => {
    const a = Profile.load("bea", home);
    const uuid = a.data.uuid;
    rmSync(a.file);
    rmSync(a.file.replace(/\.json$/, ".key")); // the identity is the key
    const b = Profile.load("bea", home); // a new identity under the same name
    assert.notEqual(b.data.uuid, uuid);
    assert.equal(a.refresh().data.uuid, uuid);
  });
});

describe("a profile is its key", () => {
  test("a lost or replaced key file is refused, never silently replaced by a new identity", () => {
    const p = Profile.load("kim", home);
    const keyFile = p.file.replace(/\.json$/, ".key");
    const saved = readFileSync(keyFile, "utf8");
    rmSync(keyFile);
    assert.throws(
      () => Profile.load("kim", home),
      (err: unknown) => {
        assert.ok(err instanceof ProfileError);
        assert.match(
          err.message,
          /the key file .*kim\.key is missing: this profile is user [0-9a-f-]{36} \(fingerprint [0-9a-f]{8}\)/,
        );
        assert.match(err.message, /Restore the file from your backup/);
        return true;
      },
    );
    assert.equal(existsSync(keyFile), false, "no new key was made");
    // Another profile's key put in its place is not this user either.
    const other = Profile.load("lee", home);
    copyFileSync(other.file.replace(/\.json$/, ".key"), keyFile);
    assert.throws(() => Profile.load("kim", home), /holds another key \(fingerprint [0-9a-f]{8}\)/);
    writeFileSync(keyFile, saved, { mode: 0o600 });
    assert.equal(Profile.load("kim", home).data.uuid, p.data.uuid, "the restored key is the user again");
  });

  test("a profile from before keys gets its first key and keeps its old id to claim", () => {
    const legacy = "01936b2e-7c1a-7d3e-9a4b-5c6d7e8f9a0b";
    mkdirSync(join(home, "profiles"), { recursive: true });
    writeFileSync(join(home, "profiles", "old.json"), JSON.stringify({ uuid: legacy, name: "Old", groups: {} }));
    const p = Profile.load("old", home);
    assert.equal(p.data.legacyUuid, legacy);
    assert.equal(p.data.uuid, userIdOf(p.keys.publicKey));
  });
});

describe("watching the profile file", () => {
  /** Resolves once `condition` holds (checked every 10 ms), failing after 5 s. */
  const until = async (what: string, condition: () => boolean): Promise<void> => {
    for (const deadline = Date.now() + 5000; !condition(); ) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  test("sees each save by another instance, even of the same size at once, until stopped", async () => {
    const shell = Profile.load("wat", home);
    const oneShot = Profile.load("wat", home);
    let seen = 0;
    const stop = shell.watch(() => seen++, 20);
    try {
      oneShot.update((d) => {
        d.groups.aaaa = group("tcp://127.0.0.1:6001");
      });
      await until("the join", () => seen >= 1);
      assert.deepEqual(
        shell.joined().map((g) => g.name),
        ["aaaa"],
      );
      // Same size, written within the same mtime tick as can be: only the inode tells them apart.
      const before = seen;
      oneShot.update((d) => {
        delete d.groups.aaaa;
        d.groups.bbbb = group("tcp://127.0.0.1:6001");
      });
      await until("the same-size save", () => seen > before);
    } finally {
      stop();
    }
    const stopped = seen;
    let control = 0;
    const stopControl = shell.watch(() => control++, 20);
    try {
      oneShot.update((d) => {
        delete d.groups.bbbb;
      });
      await until("the control watcher to see the leave", () => control >= 1);
      assert.equal(seen, stopped, "a stopped watch is not called");
    } finally {
      stopControl();
    }
  });
});
