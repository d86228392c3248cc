/**
 * The shell at a real terminal (a tmux pane): Ctrl-C, Ctrl-D, Tab, `help <command>`, and live
 * messages above the line being typed, through the real bin/run.js.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import { BIN, baseEnv, type GmProcess, gm, startDirectory, startGroup, tempHome } from "../helpers/gm.js";
import { TmuxPane, tmuxPath } from "../helpers/tmux.js";

const TMUX = tmuxPath();
// CI installs tmux and sets this, so that there the test can never be skipped silently.
if (TMUX === undefined && process.env.GM_REQUIRE_TMUX === "1")
  throw new Error("GM_REQUIRE_TMUX=1 but no tmux was found");

const WIDTH = 120;
/** A line that is only the prompt: the shell waits for a command. */
const PROMPT_LINE = /\ngm>$/;

describe("the shell at a terminal", { skip: TMUX === undefined && "no tmux" }, () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home };
  let directory: { proc: GmProcess; endpoint: string };
  let groups: { proc: GmProcess; endpoint: string };
  /** A group server of its own, to be stopped (SIGSTOP) while it stays registered. */
  let slow: { proc: GmProcess; endpoint: string };
  const user = async (profile: string, ...args: string[]) => {
    const r = await gm(["user", ...args, "--profile", profile, "--server", directory.endpoint], { env });
    assert.equal(r.exitCode, 0, r.stderr);
    return r.stdout;
  };
  const joinedAny = (profile: string): boolean => {
    try {
      const data = JSON.parse(readFileSync(join(home, "profiles", `${profile}.json`), "utf8"));
      return Object.keys(data.groups ?? {}).length > 0;
    } catch {
      return false;
    }
  };
  const shell = async (t: TestContext, profile: string): Promise<TmuxPane> => {
    const argv = [process.execPath, BIN, "user", "shell", "--profile", profile, "--server", directory.endpoint];
    const pane = await TmuxPane.start(argv, { env: baseEnv(env), width: WIDTH, tmux: TMUX as string });
    t.after(() => pane.close());
    // A profile in groups gets a line on what is unread once their servers answered; wait for
    // it, so that it does not land in the middle of what the test then types.
    await pane.waitFor(
      joinedAny(profile) ? /^gm shell as .*\n(unread: |no unread messages).*\ngm>$/m : /^gm shell as .*\ngm>$/m,
    );
    return pane;
  };

  before(async () => {
    directory = await startDirectory(env);
    const common = { env, server: directory.endpoint, dataDir: join(home, "data") };
    [groups, slow] = await Promise.all([
      startGroup(["general", "random"], common),
      startGroup(["slow"], { ...common, dataDir: join(home, "slow") }),
    ]);
    await user("ada", "join", "general");
    await user("ada", "join", "slow");
    await user("bob", "join", "general");
    await user("ada", "send", "slow", "before the stop");
  });

  after(async () => {
    slow?.proc.child.kill("SIGCONT");
    await Promise.all([groups?.proc.stop(), slow?.proc.stop(), directory?.proc.stop()]);
    cleanup();
  });

  it("Ctrl-C clears a half-typed line, and the next line runs alone", async (t) => {
    const pane = await shell(t, "ada");
    await pane.type("send_message general oops");
    await pane.waitFor(/gm> send_message general oops$/);
    await pane.press("C-c");
    // The text stays on the screen, as in bash and Node's REPL; a fresh prompt is below it.
    await pane.waitFor(/\ngm> send_message general oops\ngm>$/);
    await pane.type("show_groups");
    await pane.press("Enter");
    const screen = await pane.waitFor(/GROUP\s+JOINED\s+ADDRESS\ngeneral .*\nslow .*\ngm>$/);
    assert.doesNotMatch(screen.text, /sent #|error/);
    assert.doesNotMatch(await user("ada", "messages", "general"), /oops/, "the cleared line was not sent");
  });

  it("Ctrl-C twice on an empty line leaves with status 0, on a line of its own", async (t) => {
    const pane = await shell(t, "ada");
    await pane.press("C-c");
    await pane.waitFor(/\n\(To exit, press Ctrl\+C again or Ctrl\+D or type exit\)\ngm>$/);
    await pane.press("C-c");
    assert.equal(await pane.exitStatus(), 0);
    assert.match((await pane.screen()).text, /\ngm>\n\[exit 0\]$/);
  });

  it("Ctrl-D leaves, and what comes next starts on a new line", async (t) => {
    const pane = await shell(t, "ada");
    await pane.press("C-d");
    assert.equal(await pane.exitStatus(), 0);
    assert.match((await pane.screen()).text, /\ngm>\n\[exit 0\]$/);
  });

  it("Tab completes commands, the directory's groups for join_group, and joined groups", async (t) => {
    const pane = await shell(t, "carol");
    // Two commands start with "sho": Tab completes what they share, then the rest once it is one.
    await pane.type("sho");
    await pane.press("Tab");
    await pane.waitFor(/\ngm> show_$/);
    await pane.type("g");
    await pane.press("Tab");
    await pane.waitFor(/\ngm> show_groups$/);
    await pane.press("Enter");
    await pane.waitFor(/You have not joined any group\.\ngm>$/);
    // carol has joined nothing: "gen" can only come from the directory's list.
    await pane.type("join_group gen");
    await pane.press("Tab");
    await pane.waitFor(/\ngm> join_group general$/);
    await pane.press("Enter");
    await pane.waitFor(/Joined general \(\d+ members\)\ngm>$/);
    await pane.type("get_messages ge");
    await pane.press("Tab");
    await pane.waitFor(/\ngm> get_messages general$/);
    await pane.press("Enter");
    await pane.waitFor(PROMPT_LINE);
    await pane.type("help get_m");
    await pane.press("Tab");
    await pane.waitFor(/\ngm> help get_messages$/);
  });

  it("help <command> explains one command; help alone lists them", async (t) => {
    const pane = await shell(t, "ada");
    await pane.type("help get_messages");
    await pane.press("Enter");
    const one = await pane.waitFor(/examples:\n {2}get_messages general\n[\s\S]*\ngm>$/);
    assert.match(one.text, /^usage: get_messages <group_name> \[<timestamp>\]$/m);
    assert.match(one.text, /^ {2}get_messages general 15m$/m);
    await pane.type("help");
    await pane.press("Enter");
    const all = await pane.waitFor(/\nexit +leave the shell.*\ngm>$/);
    for (const command of ["list_groups", "join_group", "show_groups", "leave_group", "send_message", "help"]) {
      assert.match(all.text, new RegExp(`^${command} `, "m"));
    }
    await pane.type("help frobnicate");
    await pane.press("Enter");
    await pane.waitFor(/error: unknown command "frobnicate"; type help for the list\ngm>$/);
  });

  it("a live message appears above the line being typed, which stays as it was, cursor included", async (t) => {
    const pane = await shell(t, "ada");
    // Longer than the pane is wide, so the line being typed takes two rows.
    const text = `${"a long line ".repeat(12)}end`;
    const typed = `gm> send_message general ${text}`;
    await pane.type(`send_message general ${text}`);
    await pane.press("Left", "Left", "Left");
    const before = await pane.waitFor((s) => s.text.endsWith(typed) && s.cursor.x === (typed.length - 3) % WIDTH);
    await user("bob", "send", "general", "hello from bob");
    const during = await pane.waitFor(/bob \([0-9a-f]{8}\): hello from bob\n.*$/);
    assert.ok(during.text.endsWith(`hello from bob\n${typed}`), during.text);
    assert.equal(during.text.split("gm> send_message").length - 1, 1, "no stale copy of the line is left above");
    assert.deepEqual(during.cursor, { x: before.cursor.x, y: before.cursor.y + 1 }, "the cursor is where it was");
    // The line editor still holds the text, and edits it where the cursor is.
    await pane.type("!");
    await pane.press("Enter");
    await pane.waitFor(/\nsent #\d+\ngm>$/);
    const history = await user("bob", "messages", "general", "--json");
    const sent = (JSON.parse(history) as Array<{ text: string }>).at(-1)?.text;
    assert.equal(sent, `${text.slice(0, -3)}!end`);
  });

  it("Ctrl-C cancels a request to a registered group server that does not answer, and the shell goes on", async (t) => {
    const pane = await shell(t, "ada");
    slow.proc.child.kill("SIGSTOP");
    t.after(() => slow.proc.child.kill("SIGCONT"));
    await pane.type("get_messages slow");
    await pane.press("Enter");
    await pane.waitFor(/\ngm> get_messages slow\n?$/);
    await pane.press("C-c");
    // Unanswered, the request would end after 3 tries of 2.5 s with "no reply from …".
    await pane.waitFor(/\ngm> get_messages slow\ncancelled\ngm>$/, 5000);
    await pane.type("send_message slow maybe");
    await pane.press("Enter");
    await pane.waitFor(/\ngm> send_message slow maybe\n?$/);
    await pane.press("C-c");
    await pane.waitFor(
      /\ncancelled: the message may or may not have been stored; get_messages slow shows whether/,
      5000,
    );
    await pane.waitFor(PROMPT_LINE);
    await pane.type("show_groups");
    await pane.press("Enter");
    await pane.waitFor(/\nslow .*\ngm>$/);
    // Back: the cancelled HISTORY's late reply is dropped; the server stored the SEND it had queued.
    slow.proc.child.kill("SIGCONT");
    await pane.type("get_messages slow");
    await pane.press("Enter");
    const screen = await pane.waitFor(/ada \([0-9a-f]{8}\): maybe\ngm>$/);
    assert.equal(screen.text.match(/ada \([0-9a-f]{8}\): before the stop/g)?.length, 1, screen.text);
    assert.doesNotMatch(screen.text, /^error: no reply from/m);
  });
});
