/**
 * A real terminal for tests of what only a terminal shows (the shell's line editor: Ctrl-C, Ctrl-D,
 * Tab, live messages above the line being typed): a private tmux server, on a socket of its own,
 * with one pane running a command. Keys go in with `send-keys`; what is on the screen comes out
 * with `capture-pane`, polled until it shows what a test waits for or a deadline passes.
 */
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { shellWord } from "../../src/cli/flags.js";

/** The tmux binary, if this machine has one (CI installs it; see .ci/run). */
export function tmuxPath(): string | undefined {
  for (const candidate of ["/usr/bin/tmux", "/usr/local/bin/tmux", "tmux"]) {
    try {
      execFileSync(candidate, ["-V"], { stdio: "ignore" });
      return candidate;
    } catch {
      // Try the next one.
    }
  }
  return undefined;
}

/** How the screen looks now: its text (wrapped lines joined) and where the cursor is. */
export interface Screen {
  readonly text: string;
  /** The cursor's column and row on the visible screen, from 0. */
  readonly cursor: { readonly x: number; readonly y: number };
}

const POLL_MS = 50;

/** One pane of a private tmux server, running `command` and then printing `[exit <status>]`. */
export class TmuxPane {
  /** Where the server's socket file is, removed at close (tmux leaves it behind). */
  private socketPath: string | undefined;

  private constructor(
    private readonly tmux: string,
    /** The private server's socket name (`tmux -L`), so no other tmux is touched. */
    readonly socket: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /**
   * Starts a tmux server with one `width` × `height` pane running `argv` (no shell parses it) in
   * the environment `env`. The pane stays after the command ends, showing `[exit <status>]` on
   * the line where the command left the cursor.
   */
  static async start(
    argv: readonly string[],
    options: { env: NodeJS.ProcessEnv; width?: number; height?: number; tmux?: string },
  ): Promise<TmuxPane> {
    const tmux = options.tmux ?? tmuxPath();
    if (tmux === undefined) throw new Error("tmux is not installed");
    const socket = `gm-test-${process.pid}-${randomBytes(6).toString("hex")}`;
    const pane = new TmuxPane(tmux, socket, options.env);
    const command = `${argv.map(shellWord).join(" ")}; echo "[exit $?]"`;
    // One command list, run by the server before it reads the pane's exit: the pane cannot end
    // before remain-on-exit is on.
    await pane.run([
      "-f",
      "/dev/null",
      "new-session",
      "-d",
      "-s",
      "gm",
      "-x",
      String(options.width ?? 120),
      "-y",
      String(options.height ?? 40),
      command,
      ";",
      "set-option",
      "-t",
      "gm",
      "remain-on-exit",
      "on",
    ]);
    try {
      pane.socketPath = (await pane.run(["display-message", "-p", "-t", "gm", "#{socket_path}"])).trim();
    } catch (err) {
      await pane.close();
      throw err;
    }
    return pane;
  }

  private run(args: readonly string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(this.tmux, ["-L", this.socket, ...args], { env: this.env, timeout: 10_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`tmux ${args.join(" ")}: ${err.message}\n${stderr}`));
        else resolve(stdout);
      });
    });
  }

  /** Types `text` as it is (no key names). */
  async type(text: string): Promise<void> {
    await this.run(["send-keys", "-t", "gm", "-l", text]);
  }

  /** Presses keys by tmux's names: `Enter`, `Tab`, `C-c`, `C-d`, `Left`… */
  async press(...keys: string[]): Promise<void> {
    await this.run(["send-keys", "-t", "gm", ...keys]);
  }

  /**
   * The pane's text, scrollback included, with wrapped lines joined and trailing blanks dropped,
   * as is the line tmux adds at the bottom of a pane whose command has ended ("Pane is dead").
   */
  async text(): Promise<string> {
    const raw = await this.run(["capture-pane", "-p", "-J", "-S", "-", "-t", "gm"]);
    return raw
      .split("\n")
      .map((l) => l.trimEnd())
      .join("\n")
      .replace(/\n*Pane is dead \(.*\)\s*$/, "")
      .trimEnd();
  }

  async screen(): Promise<Screen> {
    const text = await this.text();
    const [x, y] = (await this.run(["display-message", "-p", "-t", "gm", "#{cursor_x} #{cursor_y}"]))
      .trim()
      .split(" ")
      .map(Number);
    return { text, cursor: { x: x as number, y: y as number } };
  }

  /**
   * Polls the screen until `condition` holds (a pattern its text matches, or a predicate), and
   * returns it; fails with the last screen once `timeoutMs` has passed.
   */
  async waitFor(condition: RegExp | ((screen: Screen) => boolean), timeoutMs = 10_000): Promise<Screen> {
    const test = typeof condition === "function" ? condition : (s: Screen) => condition.test(s.text);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const screen = await this.screen();
      if (test(screen)) return screen;
      if (Date.now() >= deadline) {
        throw new Error(`the pane did not show ${String(condition)} within ${timeoutMs} ms; it shows:\n${screen.text}`);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** Waits for the command to end and returns its exit status. */
  async exitStatus(timeoutMs = 10_000): Promise<number> {
    const m = /^\[exit (\d+)\]$/m.exec((await this.waitFor(/^\[exit \d+\]$/m, timeoutMs)).text);
    return Number(m?.[1]);
  }

  /** Stops the private tmux server, which ends the command if it still runs (SIGHUP). */
  async close(): Promise<void> {
    await this.run(["kill-server"]).catch(() => undefined);
    if (this.socketPath) rmSync(this.socketPath, { force: true });
  }
}
