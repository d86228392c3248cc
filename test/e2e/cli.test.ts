/**
 * gm follows the conventions of oclif CLIs, with oclif's own plugins: `gm help`, `gm version`,
 * shell completion, and "did you mean" for a mistyped command.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { stripVTControlCharacters } from "node:util";
import { GmProcess, gm, tempHome } from "../helpers/gm.js";

const pkg = JSON.parse(readFileSync(join(import.meta.dirname, "../../package.json"), "utf8")) as { version: string };

/** A mistyped command, run on a terminal (script(1) gives it one), answering its question with `answer`. */
async function onTerminal(args: readonly string[], env: NodeJS.ProcessEnv, answer: string) {
  // script runs its command through a shell: sh joins the words (none has a space) into that command.
  const proc = new GmProcess(args, env, { prefix: ["sh", "-c", 'exec script -qefc "$*" /dev/null', "sh"] });
  try {
    await proc.waitFor(/Did you mean .+\?/, 20_000);
    proc.write(answer);
    const code = await proc.exited;
    return { code, output: stripVTControlCharacters(proc.stdout).replaceAll("\r", "") };
  } finally {
    await proc.stop();
  }
}

describe("help, version, completion and did you mean", () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home };
  after(cleanup);

  it("gm help lists the commands and the plugins' own; gm help <command> and -h show its help", async () => {
    const root = await gm(["help"], { env });
    assert.equal(root.exitCode, 0, root.stderr);
    for (const line of [/user\s+Act as a user/, /server\s+Run the message server/, /autocomplete\s+/, /version/]) {
      assert.match(root.stdout, line);
    }
    const send = await gm(["help", "user", "send"], { env });
    assert.equal(send.exitCode, 0, send.stderr);
    assert.match(send.stdout, /\$ gm user send GROUP MESSAGE\.\.\. /);
    assert.equal((await gm(["user", "send", "-h"], { env })).stdout, send.stdout);
  });

  it("every command's description is left to oclif to wrap: no line break inside a paragraph", () => {
    const manifest = JSON.parse(readFileSync(join(import.meta.dirname, "../../oclif.manifest.json"), "utf8")) as {
      commands: Record<string, { description?: string }>;
    };
    for (const [id, command] of Object.entries(manifest.commands)) {
      for (const paragraph of (command.description ?? "").split("\n\n")) {
        assert.doesNotMatch(paragraph, /\n/, `${id}: a line break inside "${paragraph}"`);
      }
    }
  });

  it("gm version, gm -v and gm --version print the version", async () => {
    for (const args of [["version"], ["-v"], ["--version"]]) {
      const r = await gm(args, { env });
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^gm/${pkg.version.replaceAll(".", "\\.")} \\S+ node-v\\d+`), args[0]);
    }
  });

  it("gm autocomplete bash prints the setup; its script, kept under GM_HOME, completes `gm user sen` to send", async () => {
    const setup = await gm(["autocomplete", "bash"], { env });
    assert.equal(setup.exitCode, 0, setup.stderr);
    assert.match(setup.stdout, /gm autocomplete script bash/);
    const script = await gm(["autocomplete", "script", "bash"], { env });
    const setupFile = join(home, "cache", "autocomplete", "bash_setup");
    assert.match(script.stdout, new RegExp(`GM_AC_BASH_SETUP_PATH=${setupFile}`));
    assert.ok(existsSync(setupFile), "the completion scripts are kept under GM_HOME");
    // Bash's own completion, as a user's TAB runs it: the completion function the setup defines.
    const complete = (words: string) =>
      spawnSync(
        "bash",
        [
          "-c",
          `source ${setupFile}; COMP_WORDS=(${words}); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _gm_autocomplete; echo "\${COMPREPLY[*]}"`,
        ],
        { encoding: "utf8", timeout: 20_000 },
      );
    // `se` is search and send; `sen` is send alone.
    assert.equal(complete("gm user se").stdout.trim(), "search send");
    const sub = complete("gm user sen");
    assert.equal(sub.status, 0, sub.stderr);
    assert.equal(sub.stdout.trim(), "send");
    assert.match(complete("gm user send --pro").stdout, /--profile/);

    const zsh = await gm(["autocomplete", "zsh"], { env });
    assert.equal(zsh.exitCode, 0, zsh.stderr);
    const zshFunction = readFileSync(join(home, "cache", "autocomplete", "functions", "zsh", "_gm"), "utf8");
    assert.match(zshFunction, /"send\[Send a message to a group you have joined\]"/);
  });

  it("a mistyped command off a terminal: one error, exit 127", async () => {
    const r = await gm(["usr"], { env });
    assert.equal(r.exitCode, 127);
    assert.equal(r.stderr, "Error: usr is not a gm command.\nHint: Run gm help for a list of available commands.\n");
    const json = await gm(["user", "sned", "general", "--json"], { env });
    assert.equal(json.exitCode, 127);
    assert.deepEqual(JSON.parse(json.stdout), {
      error: {
        code: "USAGE",
        message: "user sned is not a gm command.",
        exit: 127,
        hint: "Run gm help user for a list of available commands.",
      },
    });
  });

  it("a mistyped command on a terminal: did you mean user? (no: the error)", async () => {
    const r = await onTerminal(["usr"], env, "n");
    assert.equal(r.code, 127, r.output);
    assert.match(r.output, /Did you mean user\?/);
    assert.match(r.output, /Error: usr is not a gm command\.\nHint: Run gm help for/);
  });

  it("a mistyped command on a terminal, accepted: runs the suggestion with its words and flags", async () => {
    const r = await onTerminal(["user", "whoaim", "--profile", "dana", "--json"], env, "y");
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /Did you mean user whoami\?/);
    assert.match(r.output, /"profile": "dana"/);
  });
});
