import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Profile } from "../../src/user/profile.js";

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
