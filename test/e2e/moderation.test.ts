/**
 * Moderation as users run it, through the real bin/run.js with CURVE on: a group whose owner is
 * given by `gm group --owner <key>` removes and bars a member, whose JOIN then fails (FORBIDDEN,
 * exit 1); a non-owner's owner commands fail the same way; an invite-only group lets in only
 * whom its owner invited; the shell does the same.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type GmProcess, gm, startDirectory, startGroup, tempHome } from "../helpers/gm.js";

describe("moderation end to end", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home };
  let directory: { proc: GmProcess; endpoint: string };
  let club: { proc: GmProcess; endpoint: string };
  const as = (profile: string, ...args: string[]) =>
    gm(["user", ...args, "--profile", profile, "--server", directory.endpoint], { env });
  const who: Record<string, { uuid: string; key: string }> = {};
  const fp = (profile: string) => (who[profile] as { uuid: string }).uuid.slice(0, 8);
  const key = (profile: string) => (who[profile] as { key: string }).key;
  /** Asserts a refusal: exit 1 and the server's message with its code. */
  const refused = (r: { exitCode: number | null; stderr: string }, message: RegExp) => {
    assert.equal(r.exitCode, 1, r.stderr);
    assert.match(r.stderr, message);
    assert.match(r.stderr, /\(FORBIDDEN\)/);
  };

  before(async () => {
    directory = await startDirectory(env);
    for (const profile of ["olga", "mallory", "carol"]) {
      const r = await as(profile, "whoami", "--json");
      assert.equal(r.exitCode, 0, r.stderr);
      who[profile] = JSON.parse(r.stdout);
    }
    club = await startGroup(["club"], {
      env,
      server: directory.endpoint,
      dataDir: join(home, "data"),
      extra: ["--owner", key("olga")],
    });
  });

  after(async () => {
    await Promise.all([club?.proc.stop(), directory?.proc.stop()]);
    cleanup();
  });

  it("the owner removes and bars a member; the barred key cannot join again; a non-owner is FORBIDDEN", async () => {
    assert.equal((await as("mallory", "join", "club")).exitCode, 0);
    assert.equal((await as("carol", "join", "club")).exitCode, 0);
    // The attacker holds a real key, is a member, and tries every owner command.
    refused(await as("mallory", "remove", "club", fp("carol"), "--bar"), /only the owner of "club" may remove members/);
    refused(await as("mallory", "invite-only", "club", "on"), /only the owner of "club" may change its settings/);
    refused(await as("mallory", "invite", "club", key("mallory")), /only the owner of "club" may invite/);
    refused(await as("mallory", "unbar", "club", fp("carol")), /only the owner of "club" may lift bars/);

    const removed = await as("olga", "remove", "club", fp("mallory"), "--bar");
    assert.equal(removed.exitCode, 0, removed.stderr);
    assert.match(removed.stdout, new RegExp(`Removed ${who.mallory?.uuid} from club; barred from joining again`));
    refused(await as("mallory", "join", "club"), /the owner of "club" has barred you \(user [0-9a-f-]{36}\) from it/);
    const send = await as("mallory", "send", "club", "still here?");
    assert.equal(send.exitCode, 1);
    assert.match(send.stderr, /not a member of "club"/);
    assert.match(
      club.proc.stdout,
      new RegExp(`REMOVE OF ${who.mallory?.uuid} FROM club BY ${who.olga?.uuid} \\(BARRED\\)`),
    );
  });

  it("invite-only: an uninvited key is FORBIDDEN, an invited key joins", async () => {
    const on = await as("olga", "invite-only", "club", "on");
    assert.equal(on.exitCode, 0, on.stderr);
    assert.match(on.stdout, /club is invite-only/);
    assert.equal((await as("carol", "leave", "club")).exitCode, 0);
    refused(await as("carol", "join", "club"), /"club" is invite-only and you \(user [0-9a-f-]{36}\) are not invited/);
    const invited = await as("olga", "invite", "club", key("carol"));
    assert.equal(invited.exitCode, 0, invited.stderr);
    assert.match(invited.stdout, new RegExp(`Invited ${who.carol?.uuid} to club`));
    assert.doesNotMatch(invited.stderr, /Warning/, "an invite by key is not the weak form");
    const joined = await as("carol", "join", "club");
    assert.equal(joined.exitCode, 0, joined.stderr);
    const fingerprint = await as("olga", "invite", "club", "0123abcd");
    assert.match(fingerprint.stderr, /Warning: a fingerprint invite lets in the first key/);
    const short = await as("olga", "invite", "club", "0123abc");
    assert.equal(short.exitCode, 2);
    assert.match(short.stderr, /too short: a fingerprint has at least 8 hex digits/);
  });

  it("the shell has the owner's commands, listed by help; they refuse a non-owner", async () => {
    const owner = await gm(["user", "shell", "--profile", "olga", "--server", directory.endpoint], {
      env,
      input: `help\nunbar_member club ${fp("mallory")}\ninvite club ${key("mallory")}\nexit\n`,
    });
    assert.equal(owner.exitCode, 0, owner.stderr);
    for (const command of ["remove_member", "bar_member", "unbar_member", "invite <group_name>", "invite_only"]) {
      assert.match(owner.stdout, new RegExp(`^${command}`, "m"));
    }
    assert.match(owner.stdout, new RegExp(`Unbarred ${who.mallory?.uuid} in club`));
    assert.match(owner.stdout, new RegExp(`Invited ${who.mallory?.uuid} to club`));
    assert.equal((await as("mallory", "join", "club")).exitCode, 0, "unbarred and invited: in again");

    const other = await gm(["user", "shell", "--profile", "mallory", "--server", directory.endpoint], {
      env,
      input: `bar_member club ${fp("carol")}\ninvite_only club off\nexit\n`,
    });
    assert.match(other.stdout, /error: only the owner of "club" may remove members/);
    assert.match(other.stdout, /error: only the owner of "club" may change its settings/);
    const info = await as("carol", "messages", "club");
    assert.equal(info.exitCode, 0, "carol is still a member");
  });
});
