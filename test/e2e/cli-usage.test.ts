/**
 * The CLI against running servers: every failure in one style (`Error:` and `Hint:` on stderr, or
 * one JSON object on stdout with --json), hints in the user's own terms, and the arguments and
 * output of the commands that follow the original system's (`gm group ADDRESS`, `gm user send`).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { GmProcess, gm, startDirectory, startGroup, tempHome } from "../helpers/gm.js";

describe("the CLI against running servers", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home };
  let directory: { proc: GmProcess; endpoint: string };
  let group: { proc: GmProcess; endpoint: string };
  const user = (args: readonly string[], extra: NodeJS.ProcessEnv = {}, input?: string) =>
    gm(["user", ...args, "--server", directory.endpoint], {
      env: { ...env, ...extra },
      ...(input !== undefined && { input }),
    });

  before(async () => {
    directory = await startDirectory(env);
    group = await startGroup(["general"], { env, server: directory.endpoint, dataDir: join(home, "data") });
    const joined = await user(["join", "general", "--profile", "owner"]);
    assert.equal(joined.exitCode, 0, joined.stderr);
    const bob = await user(["join", "general", "--profile", "bob"]);
    assert.equal(bob.exitCode, 0, bob.stderr);
  });

  after(async () => {
    await Promise.all([group?.proc.stop(), directory?.proc.stop()]);
    cleanup();
  });

  it("oclif's usage errors: Error and Hint lines, exit 2, no oclif decoration", async () => {
    const flag = await user(["groups", "--bogus"]);
    assert.equal(flag.exitCode, 2);
    assert.equal(flag.stderr, "Error: Nonexistent flag: --bogus\nHint: see gm user groups --help\n");
    const arg = await gm(["user", "join"], { env });
    assert.equal(arg.exitCode, 2);
    assert.equal(arg.stderr, "Error: Missing 1 required arg:\n  group  group name\nHint: see gm user join --help\n");
  });

  it("a server's error reply in the same style, with its code", async () => {
    const r = await user(["invite-only", "general", "on", "--profile", "bob"]);
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /^Error: .*\(FORBIDDEN\)\n$/);
  });

  it("--json: a failure is one JSON object on stdout, and the exit code is kept", async () => {
    const unknown = await user(["join", "nosuch", "--json"]);
    assert.equal(unknown.exitCode, 1);
    assert.equal(unknown.stderr, "");
    assert.deepEqual(JSON.parse(unknown.stdout), {
      error: {
        code: "UNKNOWN_GROUP",
        message: `no group named "nosuch" is registered with ${directory.endpoint}`,
        exit: 1,
        hint: `see the groups there are: gm user list-groups --server ${directory.endpoint}`,
      },
    });
    const usage = await gm(["user", "join", "--json"], { env });
    assert.equal(usage.exitCode, 2);
    assert.equal(JSON.parse(usage.stdout).error.code, "USAGE");
  });

  it("gm user shell --json is refused as bad usage (the shell prints for a person)", async () => {
    const shell = await user(["shell", "--json"], {}, "list_groups\n");
    assert.equal(shell.exitCode, 2);
    const { error } = JSON.parse(shell.stdout);
    assert.equal(error.code, "USAGE");
    assert.match(error.message, /^the shell has no JSON output; use the one-shot commands with --json/);
  });

  it("hints name the CLI command with the user's --profile and --server, and the shell's command in the shell", async () => {
    const r = await user(["send", "general", "hi", "--profile", "carol"]);
    assert.equal(r.exitCode, 1);
    assert.equal(
      r.stderr,
      `Error: you have not joined "general" (NOT_MEMBER)\nHint: join it first: gm user join general --profile carol --server ${directory.endpoint}\n`,
    );
    const shell = await user(["shell", "--profile", "carol"], {}, "send_message general hi\n");
    assert.equal(shell.exitCode, 1);
    assert.match(shell.stdout, /error: you have not joined "general"\nhint: join it first: join_group general\n/);
    assert.doesNotMatch(shell.stdout, /gm user/);
  });

  it("DEBUG or GM_DEBUG shows the stack before the error", async () => {
    const plain = await user(["join", "nosuch"]);
    assert.doesNotMatch(plain.stderr, /\n\s+at /);
    for (const debug of [{ GM_DEBUG: "1" }, { DEBUG: "*" }]) {
      const r = await user(["join", "nosuch"], debug);
      assert.match(r.stderr, /GmError: no group named "nosuch"[^\n]*\n\s+at /);
      assert.match(r.stderr, /\nError: no group named "nosuch"/);
    }
  });

  it("gm user send GROUP MESSAGE...: one group in the usage; after --, a word may start with -", async () => {
    const help = await gm(["user", "send", "--help"], { env });
    assert.match(help.stdout, /\$ gm user send GROUP MESSAGE\.\.\. /);
    assert.match(help.stdout, /\n {2}GROUP {7}group name\n/);
    const words = ["--", "-x", "marks", "the", "spot"];
    const sent = await gm(["user", "send", "general", "--profile", "bob", "--server", directory.endpoint, ...words], {
      env,
    });
    assert.equal(sent.exitCode, 0, sent.stderr);
    const history = await user(["messages", "general", "--profile", "bob", "--json"]);
    assert.equal(JSON.parse(history.stdout).at(-1).text, "-x marks the spot");
  });

  it("list-groups --json gives each group's age in milliseconds as ageMs", async () => {
    const r = await user(["list-groups", "--json"]);
    const [entry] = JSON.parse(r.stdout) as Array<{ name: string; age: number; ageMs: number }>;
    assert.equal(entry?.name, "general");
    assert.equal(typeof entry?.ageMs, "number");
    assert.equal(entry?.ageMs, entry?.age);
  });

  it("gm group ADDRESS serves on it, as --address does; two different addresses are bad usage", async () => {
    const dataDir = join(home, "positional");
    const proc = new GmProcess(
      ["group", "--name", "pos", "127.0.0.1:0", "--server", directory.endpoint, "--data-dir", dataDir],
      env,
    );
    try {
      await proc.waitFor(/gm group: serving pos on tcp:\/\/127\.0\.0\.1:\d+/);
    } finally {
      await proc.stop();
    }
    const both = await gm(
      [
        "group",
        "--name",
        "pos",
        "127.0.0.1:0",
        "--address",
        "127.0.0.1:7",
        "--server",
        directory.endpoint,
        "--data-dir",
        dataDir,
      ],
      { env },
    );
    assert.equal(both.exitCode, 2);
    assert.match(
      both.stderr,
      /^Error: two addresses to listen on: ADDRESS 127\.0\.0\.1:0 and --address 127\.0\.0\.1:7; give one\n$/m,
    );
  });
});
