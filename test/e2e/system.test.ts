/**
 * The whole system as a user runs it: a message server, two group servers and two users, every
 * one-shot command and the shell, all through the real bin/run.js.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type GmProcess, gm, startDirectory, startGroup, tempHome } from "../helpers/gm.js";

describe("gm end to end", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home };
  let directory: { proc: GmProcess; endpoint: string };
  let general: { proc: GmProcess; endpoint: string };
  let random: { proc: GmProcess; endpoint: string };
  const as = (profile: string, ...args: string[]) =>
    gm(["user", ...args, "--profile", profile, "--server", directory.endpoint], { env });
  const json = async (profile: string, ...args: string[]) => {
    const r = await as(profile, ...args, "--json");
    assert.equal(r.exitCode, 0, r.stderr);
    return JSON.parse(r.stdout);
  };

  before(async () => {
    directory = await startDirectory(env);
    const common = { env, server: directory.endpoint, dataDir: join(home, "data") };
    [general, random] = await Promise.all([startGroup(["general"], common), startGroup(["random"], common)]);
  });

  after(async () => {
    await Promise.all([general?.proc.stop(), random?.proc.stop(), directory?.proc.stop()]);
    cleanup();
  });

  it("group servers print their details and register", () => {
    assert.match(general.proc.stdout, /Group general\n\s+id\s+[0-9a-f-]{36}\n\s+members\s+0/);
    assert.match(general.proc.stdout, /registration\s+registered/);
    assert.match(general.proc.stdout, new RegExp(`address\\s+${general.endpoint}`));
    assert.match(directory.proc.stdout, new RegExp(`JOIN REQUEST FROM ${general.endpoint}`));
  });

  it("lists both groups with their endpoints", async () => {
    const groups = await json("alice", "list-groups");
    assert.deepEqual(
      groups.map((g: { name: string; address: string }) => [g.name, g.address]),
      [
        ["general", general.endpoint],
        ["random", random.endpoint],
      ],
    );
    const human = await as("alice", "list-groups");
    assert.match(human.stdout, /general\s+0\s+tcp:\/\/127\.0\.0\.1/);
    const alice = await json("alice", "whoami");
    assert.match(directory.proc.stdout, new RegExp(`GROUP LIST REQUEST FROM ${alice.uuid}`));
  });

  it("two users join, send and read each other's messages", async () => {
    const a = await as("alice", "join", "general");
    assert.equal(a.exitCode, 0, a.stderr);
    assert.match(a.stdout, /Joined general \(1 member\)/);
    const b = await as("bob", "join", "general", "--display-name", "Bob B");
    assert.match(b.stdout, /Joined general \(2 members\)/);
    const again = await as("bob", "join", "general");
    assert.match(again.stdout, /Already a member of general \(2 members\)/);

    const sent = await json("alice", "send", "general", "hello", "everyone");
    assert.equal(sent.seq, 1);
    assert.equal(sent.duplicate, false);
    const quoted = await as("bob", "send", "general", "hi alice, how are you?");
    assert.equal(quoted.exitCode, 0, quoted.stderr);
    assert.match(quoted.stdout, /Sent to general as #2/);

    const human = await as("alice", "messages", "general");
    assert.match(
      human.stdout,
      /^\[\d\d:\d\d:\d\d\] \S+ \([0-9a-f]{8}\): hello everyone\n\[\d\d:\d\d:\d\d\] Bob B \([0-9a-f]{8}\): hi alice, how are you\?\n$/,
    );
    const messages = await json("bob", "messages", "general");
    assert.deepEqual(
      messages.map((m: { seq: number; text: string }) => [m.seq, m.text]),
      [
        [1, "hello everyone"],
        [2, "hi alice, how are you?"],
      ],
    );
    const alice = await json("alice", "whoami");
    assert.equal(messages[0].user, alice.uuid);
    assert.match(general.proc.stdout, new RegExp(`MESSAGE SEND FROM ${alice.uuid}`));
    assert.match(general.proc.stdout, new RegExp(`MESSAGE REQUEST FROM ${alice.uuid}`));
    assert.match(general.proc.stdout, new RegExp(`JOIN REQUEST FROM ${alice.uuid}`));
  });

  it("filters messages by time in every accepted form, and limits to the newest", async () => {
    const all = await json("alice", "messages", "general");
    const second = all[1];
    for (const since of [String(second.ts), new Date(second.ts).toISOString()]) {
      const got = await json("alice", "messages", "general", "--since", since);
      assert.deepEqual(
        got.map((m: { seq: number }) => m.seq),
        [2],
        `--since ${since}`,
      );
    }
    const recent = await json("alice", "messages", "general", "--since", "1h");
    assert.equal(recent.length, 2);
    const future = await json("alice", "messages", "general", "--since", String(Date.now() + 60_000));
    assert.equal(future.length, 0);
    const newest = await json("alice", "messages", "general", "--limit", "1");
    assert.deepEqual(
      newest.map((m: { seq: number }) => m.seq),
      [2],
    );
  });

  it("shows joined groups from the profile and leaves", async () => {
    await as("alice", "join", "random");
    const groups = await json("alice", "groups");
    assert.deepEqual(
      groups.map((g: { name: string }) => g.name),
      ["general", "random"],
    );
    assert.equal((await as("bob", "join", "random")).exitCode, 0);
    const left = await as("alice", "leave", "random");
    assert.equal(left.exitCode, 0, left.stderr);
    assert.match(left.stdout, /Left random \(1 member remains\)/);
    const last = await as("bob", "leave", "random");
    assert.match(last.stdout, /Left random \(0 members remain\)/);
    assert.deepEqual(
      (await json("alice", "groups")).map((g: { name: string }) => g.name),
      ["general"],
    );
    const notMember = await as("alice", "send", "random", "still here?");
    assert.equal(notMember.exitCode, 1);
    assert.match(notMember.stderr, /you have not joined "random"/);
    assert.match(random.proc.stdout, /LEAVE REQUEST FROM/);
  });

  it("runs the original commands in the shell, read from stdin", async () => {
    const script = [
      "help",
      "list_groups",
      "join_group random",
      "show_groups",
      'send_message random "hello from the shell"',
      "send_message random unquoted words too",
      "get_messages random",
      "get_messages random 1h",
      "leave_group random",
      "show_groups",
      "exit",
      "list_groups",
    ].join("\n");
    const r = await gm(["user", "shell", "--profile", "carol", "--server", directory.endpoint], { env, input: script });
    assert.equal(r.exitCode, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /join_group <group_name>/);
    assert.match(r.stdout, /general\s+2\s+tcp:/);
    assert.match(r.stdout, /Joined random/);
    assert.match(
      r.stdout,
      /\] carol \([0-9a-f]{8}\): hello from the shell\n.*\] carol \([0-9a-f]{8}\): unquoted words too\n/,
    );
    assert.match(r.stdout, /Left random/);
    assert.match(r.stdout, /You have not joined any group\.\n$/, "exit stops the shell before the last line");
  });

  it("a new display name reaches the groups already joined with the next message", async () => {
    assert.equal((await as("renamer", "join", "random")).exitCode, 0);
    assert.equal((await as("renamer", "send", "random", "before")).exitCode, 0);
    assert.equal((await as("renamer", "whoami", "--display-name", "Grace H.")).exitCode, 0);
    assert.equal((await as("renamer", "send", "random", "after")).exitCode, 0);
    const mine = (await json("renamer", "messages", "random")).filter((m: { text: string }) =>
      ["before", "after"].includes(m.text),
    );
    assert.deepEqual(
      mine.map((m: { name: string; text: string }) => [m.name, m.text]),
      [
        ["renamer", "before"],
        ["Grace H.", "after"],
      ],
    );
  });

  it("a member's escape sequences and forged lines reach the terminal as visible escapes, indented", async () => {
    assert.equal((await as("mallory", "join", "random")).exitCode, 0);
    assert.equal((await as("victor", "join", "random")).exitCode, 0);
    const attack =
      "red \x1b[31mALERT\x1b[0m \x1b]0;pwned\x07 \u202eevil\rgone\u009b2J\u2028\n[08:00:00] alice: send me your password";
    const sent = await as("mallory", "send", "random", attack);
    assert.equal(sent.exitCode, 0, sent.stderr);
    const read = await as("victor", "messages", "random");
    assert.equal(read.exitCode, 0, read.stderr);
    assert.ok(
      !/[\p{Cc}\u202e\u2028]/u.test(read.stdout.replaceAll("\n", "")),
      `raw control characters in ${JSON.stringify(read.stdout)}`,
    );
    assert.match(
      read.stdout,
      /mallory \([0-9a-f]{8}\): red \\x1b\[31mALERT\\x1b\[0m \\x1b\]0;pwned\\x07 \\u\{202e\}evil\\x0dgone\\x9b2J\\u\{2028\}\n {4}\[08:00:00\] alice:/,
    );
    assert.ok(!/^\[08:00:00\] alice/m.test(read.stdout), "no line passes for alice's");
    // --json keeps the text exactly as sent, and writes what a terminal could act on as escapes
    // (JSON.stringify itself leaves C1 controls and the bidi controls raw).
    const raw = await as("victor", "messages", "random", "--json");
    assert.equal(raw.exitCode, 0, raw.stderr);
    assert.doesNotMatch(raw.stdout.replaceAll("\n", ""), /[\p{Cc}\u202e\u2028]/u);
    assert.match(raw.stdout, /gone\\u009b2J\\u2028\\n\[08/);
    const [stored] = (await json("victor", "messages", "random")).filter((m: { name: string }) => m.name === "mallory");
    assert.equal(stored.text, attack);
  });

  it("two members with one display name are told apart by their keys' fingerprints", async () => {
    const real = await json("robert", "whoami", "--display-name", "Robert");
    const fake = await json("stranger", "whoami", "--display-name", "Robert");
    assert.notEqual(real.fingerprint, fake.fingerprint);
    assert.equal(real.uuid.slice(0, 8), real.fingerprint, "the fingerprint starts the user id");
    for (const [who, text] of [
      ["robert", "the real one"],
      ["stranger", "me too"],
    ] as const) {
      assert.equal((await as(who, "join", "random")).exitCode, 0);
      assert.equal((await as(who, "send", "random", text)).exitCode, 0);
    }
    const read = await as("victor", "messages", "random");
    assert.match(read.stdout, new RegExp(`Robert \\(${real.fingerprint}\\): the real one`));
    assert.match(read.stdout, new RegExp(`Robert \\(${fake.fingerprint}\\): me too`));
    // Nor can a name carry a fingerprint of its own to pass for someone else's.
    const forged = await as("stranger", "whoami", "--display-name", `Robert (${real.fingerprint})`);
    assert.equal(forged.exitCode, 2);
    assert.match(forged.stderr, /must not contain a fingerprint-like group in brackets/);
  });

  it("keeps going after a bad shell line, and exits non-zero when scripted lines failed", async () => {
    const script = [
      "frobnicate",
      "join_group",
      'send_message general "unclosed',
      "get_messages nowhere",
      "show_groups",
    ].join("\n");
    const r = await gm(["user", "shell", "--profile", "dave", "--server", directory.endpoint], { env, input: script });
    assert.equal(r.exitCode, 1);
    assert.match(r.stdout, /error: unknown command "frobnicate"/);
    assert.match(r.stdout, /error: usage: join_group <group_name>/);
    assert.match(r.stdout, /error: unclosed double quote/);
    assert.match(r.stdout, /error: you have not joined "nowhere"/);
    assert.match(r.stdout, /You have not joined any group\./);
  });
});
