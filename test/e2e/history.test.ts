/**
 * Navigating history and searching it, as users do, through the real bin/run.js with CURVE on:
 * dates on messages not from today, `--limit` as the newest N with a hint that pages back,
 * `--until` and `--before`, `search` (newest first, FTS5 syntax taken as words, members only), and
 * the shell's `get_messages` options and `search`.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { SqliteGroupStore } from "../../src/store/sqlite.js";
import { splitWords } from "../../src/user/words.js";
import { type GmProcess, gm, startDirectory, startGroup, tempHome } from "../helpers/gm.js";

/** A message stored three days ago, before the server starts: not from today wherever the test runs. */
const OLD_TS = Date.now() - 3 * 86_400_000;

describe("history navigation and search end to end", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home };
  const dataDir = join(home, "data");
  let directory: { proc: GmProcess; endpoint: string };
  let group: { proc: GmProcess; endpoint: string };
  const as = (profile: string, ...args: string[]) =>
    gm(["user", ...args, "--profile", profile, "--server", directory.endpoint], { env });
  const who: Record<string, { uuid: string; key: string }> = {};
  /** The messages' texts as `messages`/`search` print them, one per line. */
  const texts = (stdout: string) =>
    stdout
      .trim()
      .split("\n")
      .map((line) => line.replace(/^\[[^\]]+\] \S+ \([0-9a-f]{8}\): /, ""));
  /** Runs the command a hint line gives (after "older …: gm "), as that profile. */
  const follow = (hint: string) => {
    const words = splitWords(hint.replace(/^older (?:messages|matches): /, ""));
    assert.equal(words[0], "gm");
    return gm(words.slice(1), { env });
  };

  before(async () => {
    directory = await startDirectory(env);
    for (const profile of ["olga", "ana", "eve"]) {
      const r = await gm(["user", "whoami", "--json", "--profile", profile], { env });
      assert.equal(r.exitCode, 0, r.stderr);
      who[profile] = JSON.parse(r.stdout);
    }
    // The group's first message, from three days ago: written into a new store as gm would have
    // (the group server indexes it for search when it starts).
    await SqliteGroupStore.open(dataDir, "general").close();
    const db = new Database(join(dataDir, "general.db"));
    db.prepare("INSERT INTO messages (seq, id, ts, user, name, text) VALUES (1, ?, ?, ?, 'Old', ?)").run(
      Buffer.from(randomUUID().replaceAll("-", ""), "hex"),
      OLD_TS,
      randomUUID(),
      "an old deploy note",
    );
    db.close();
    group = await startGroup(["general"], {
      env,
      server: directory.endpoint,
      dataDir,
      extra: ["--owner", (who.olga as { key: string }).key],
    });
    for (const profile of ["olga", "ana"]) assert.equal((await as(profile, "join", "general")).exitCode, 0);
    const sent = [
      "deploy at noon",
      "lunch first",
      'what does "a" OR b* mean',
      "the DEPLOY went fine",
      "NEAR( is not a function",
      "déploy? no: deploy",
    ];
    for (const text of sent) {
      const r = await as("ana", "send", "general", text);
      assert.equal(r.exitCode, 0, r.stderr);
    }
  });

  after(async () => {
    await Promise.all([group?.proc.stop(), directory?.proc.stop()]);
    cleanup();
  });

  it("shows the date of a message not from today, the time alone for today's; --json has an ISO time", async () => {
    const r = await as("ana", "messages", "general");
    assert.equal(r.exitCode, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 7);
    const d = new Date(OLD_TS);
    const day = `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
    assert.match(lines[0] as string, new RegExp(`^\\[${day} \\d{2}:\\d{2}:\\d{2}\\] Old \\(`));
    for (const line of lines.slice(1)) assert.match(line, /^\[\d{2}:\d{2}:\d{2}\] ana \(/);
    const json = JSON.parse((await as("ana", "messages", "general", "--json")).stdout) as Array<{
      seq: number;
      ts: number;
      time: string;
    }>;
    assert.equal(json.length, 7);
    for (const m of json) assert.equal(m.time, new Date(m.ts).toISOString());
  });

  it("--limit gives the newest N, and the hint on stderr pages back to the oldest", async () => {
    const first = await as("ana", "messages", "general", "--limit", "3");
    assert.equal(first.exitCode, 0, first.stderr);
    assert.deepEqual(texts(first.stdout), ["the DEPLOY went fine", "NEAR( is not a function", "déploy? no: deploy"]);
    const hint = first.stderr.trim();
    assert.equal(
      hint,
      `older messages: gm user messages general --limit 3 --before '#5' --profile ana --server ${directory.endpoint}`,
    );
    const second = await follow(hint);
    assert.equal(second.exitCode, 0, second.stderr);
    assert.deepEqual(texts(second.stdout), ["deploy at noon", "lunch first", 'what does "a" OR b* mean']);
    const third = await follow(second.stderr.trim());
    assert.deepEqual(texts(third.stdout), ["an old deploy note"]);
    assert.equal(third.stderr, "", "no older messages: no hint");
  });

  it("--until and --before a time bound the newest; --since with --limit gives the newest since", async () => {
    const all = JSON.parse((await as("ana", "messages", "general", "--json")).stdout) as Array<{ ts: number }>;
    // Before today's first message: only the old one.
    const today = String((all[1] as { ts: number }).ts);
    assert.deepEqual(texts((await as("ana", "messages", "general", "--until", today)).stdout), ["an old deploy note"]);
    assert.deepEqual(texts((await as("ana", "messages", "general", "--before", today)).stdout), ["an old deploy note"]);
    const since = await as("ana", "messages", "general", "--since", "1d", "--limit", "2");
    assert.deepEqual(texts(since.stdout), ["NEAR( is not a function", "déploy? no: deploy"]);
    assert.match(since.stderr, /^older messages: gm user messages general --since \d{4}-\d\d-\d\dT[\d:.]+Z --limit 2 /);
    const yesterday = await as("ana", "messages", "general", "--since", "2d", "--until", "1d");
    assert.equal(yesterday.stdout, "No messages.\n");
    const bad = await as("ana", "messages", "general", "--before", "#zero");
    assert.equal(bad.exitCode, 2);
    assert.match(bad.stderr, /invalid --before "#zero"/);
  });

  it("search finds a word across messages, newest first, as `messages` prints them", async () => {
    const r = await as("ana", "search", "general", "deploy");
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(texts(r.stdout), [
      "déploy? no: deploy",
      "the DEPLOY went fine",
      "deploy at noon",
      "an old deploy note",
    ]);
    const listed = (await as("ana", "messages", "general")).stdout.trim().split("\n");
    for (const line of r.stdout.trim().split("\n")) assert.ok(listed.includes(line), `${line} as messages shows it`);
    assert.equal(r.stderr, "");
    const json = JSON.parse((await as("ana", "search", "general", "DEPLOY", "fine", "--json")).stdout);
    assert.deepEqual(
      json.map((m: { seq: number; text: string }) => [m.seq, m.text]),
      [[5, "the DEPLOY went fine"]],
    );
    // Paged: the newest two, then the hint's command for the rest.
    const page = await as("ana", "search", "general", "deploy", "--limit", "2");
    assert.deepEqual(texts(page.stdout), ["déploy? no: deploy", "the DEPLOY went fine"]);
    const rest = await follow(page.stderr.trim());
    assert.equal(rest.exitCode, 0, rest.stderr);
    assert.deepEqual(texts(rest.stdout), ["deploy at noon", "an old deploy note"]);
    const none = await as("ana", "search", "general", "nothing-like-this");
    assert.equal(none.exitCode, 0);
    assert.equal(none.stdout, "No messages match.\n");
  });

  it("FTS5 syntax in a search is searched as words, never an error", async () => {
    const or = await as("ana", "search", "general", '"a"', "OR", "b*");
    assert.equal(or.exitCode, 0, or.stderr);
    assert.deepEqual(texts(or.stdout), ['what does "a" OR b* mean']);
    const near = await as("ana", "search", "general", "NEAR(");
    assert.equal(near.exitCode, 0, near.stderr);
    assert.deepEqual(texts(near.stdout), ["NEAR( is not a function"]);
    for (const words of [['"unclosed'], ["a", "AND", "(b"], ["col:deploy"], ["^deploy"], ["NOT", "lunch"]]) {
      const r = await as("ana", "search", "general", ...words);
      assert.equal(r.exitCode, 0, `${words.join(" ")}: ${r.stderr}`);
    }
    const empty = await as("ana", "search", "general", "*", '"');
    assert.equal(empty.exitCode, 2, "nothing to search for is bad usage");
    assert.match(empty.stderr, /the search has no word to search for/);
  });

  it("a non-member's search fails with a clear error, exit 1: never joined, or removed by the owner", async () => {
    const stranger = await as("eve", "search", "general", "deploy");
    assert.equal(stranger.exitCode, 1);
    assert.match(stranger.stderr, /you have not joined "general".*\(NOT_MEMBER\)/);
    assert.equal(stranger.stdout, "");
    assert.equal((await as("eve", "join", "general")).exitCode, 0);
    const removed = await as("olga", "remove", "general", (who.eve as { uuid: string }).uuid);
    assert.equal(removed.exitCode, 0, removed.stderr);
    const after = await as("eve", "search", "general", "deploy");
    assert.equal(after.exitCode, 1);
    assert.match(after.stderr, /not a member of "general".*\(NOT_MEMBER\)/);
    assert.equal(after.stdout, "");
  });

  it("the shell: get_messages as before and with options, and search, each with its hint", async () => {
    const lines = [
      `get_messages general ${new Date(OLD_TS + 1).toISOString()}`,
      "get_messages general --limit 2",
      "get_messages general --limit 2 --before #6",
      "search general deploy --limit 3",
      "search general deploy --before #2",
      "get_messages general --limit",
    ];
    const r = await gm(["user", "shell", "--profile", "ana", "--server", directory.endpoint], {
      env,
      input: `${lines.join("\n")}\n`,
    });
    assert.equal(r.exitCode, 1, "one line failed");
    assert.deepEqual(texts(r.stdout), [
      ...["deploy at noon", "lunch first", 'what does "a" OR b* mean', "the DEPLOY went fine"],
      ...["NEAR( is not a function", "déploy? no: deploy"],
      ...["NEAR( is not a function", "déploy? no: deploy"],
      "older messages: get_messages general --limit 2 --before #6",
      ...['what does "a" OR b* mean', "the DEPLOY went fine"],
      "older messages: get_messages general --limit 2 --before #4",
      ...["déploy? no: deploy", "the DEPLOY went fine", "deploy at noon"],
      "older matches: search general --limit 3 --before #2 -- deploy",
      "an old deploy note",
      "error: Option '-n, --limit <value>' argument missing",
    ]);
  });
});
