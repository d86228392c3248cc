/**
 * Issue 14: a group whose disk is full. SENDs are refused with `300 STORAGE_FULL` (a retry later
 * can work) instead of `500 INTERNAL`, reads go on, a restart with the disk still full starts and
 * serves reads, and once there is room again a SEND is stored. The disk is a real one: a 2 MB
 * tmpfs mounted (as root) for the test and unmounted after it; without the privilege the test is
 * skipped.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as zmq from "zeromq";
import { decodeReply, encodeRequest } from "../../src/protocol/codec.js";
import { GroupCommand } from "../../src/protocol/constants.js";
import { type GmProcess, gm, startDirectory, startGroup, tempHome } from "../helpers/gm.js";

/** Mounts a small tmpfs on a new directory; undefined where mounting is not allowed. */
function smallDisk(): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), "gm-full-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", dir], { stdio: "ignore" });
    return dir;
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
}

/** Writes zeros to `file` until the file system has no room left. */
function fill(file: string): void {
  const fd = openSync(file, "w");
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, "ENOSPC");
  } finally {
    closeSync(fd);
  }
}

const disk = smallDisk();

describe("a full disk", { skip: disk === undefined && "mounting a tmpfs needs root" }, () => {
  const { home, cleanup } = tempHome();
  const env = { GM_HOME: home, GM_INSECURE: "1" };
  const dataDir = join(disk ?? home, "data");
  const filler = join(disk ?? home, "filler");
  const user = randomUUID();
  let directory: { proc: GmProcess; endpoint: string };
  let group: { proc: GmProcess; endpoint: string } | undefined;
  let dealer: zmq.Dealer | undefined;
  let n = 0;

  const startGm = async () => {
    group = await startGroup(["general"], { env, server: directory.endpoint, dataDir, extra: ["--insecure"] });
    dealer?.close();
    dealer = new zmq.Dealer({ linger: 0 });
    dealer.connect(group.endpoint);
  };
  /** One request on the raw socket: its status and body. */
  const ask = async (command: string, body: Record<string, unknown>) => {
    const d = dealer as zmq.Dealer;
    await d.send(encodeRequest(command, `r${++n}`, { group: "general", user, ...body }));
    const reply = decodeReply(await d.receive());
    assert.equal(reply.type, "reply");
    return reply as { status: string; body: Record<string, unknown> };
  };
  const send = (text: string) => ask(GroupCommand.Send, { id: randomUUID(), text });

  before(async () => {
    directory = await startDirectory(env, ["--insecure"]);
    await startGm();
  });

  after(async () => {
    dealer?.close();
    await Promise.all([group?.proc.stop(), directory?.proc.stop()]);
    cleanup();
    if (disk !== undefined) {
      execFileSync("umount", [disk]);
      rmSync(disk, { recursive: true, force: true });
    }
  });

  it("refuses sends with 300 STORAGE_FULL and goes on serving reads, across a restart", {
    timeout: 60_000,
  }, async () => {
    assert.equal((await ask(GroupCommand.Join, { name: "Ana" })).status, "200");
    const joined = await gm(["user", "join", "general", "--server", directory.endpoint], { env });
    assert.equal(joined.exitCode, 0, joined.stderr);
    for (let i = 1; i <= 3; i++) assert.equal((await send(`before ${i} ${"x".repeat(2000)}`)).status, "200");
    fill(filler);

    const full = await send(`during ${"y".repeat(2000)}`);
    assert.equal(full.status, "300", JSON.stringify(full.body));
    assert.equal(full.body.code, "STORAGE_FULL");
    assert.match(String(full.body.message), /general\.db: database or disk is full\); nothing was stored/);

    // A real user's one-shot send and shell line both say it in gm's words, not the server's alone.
    const cli = (args: string[], input?: string) =>
      gm(["user", ...args, "--server", directory.endpoint], { env, ...(input !== undefined && { input }) });
    const oneShot = await cli(["send", "general", "from the one-shot"]);
    assert.equal(oneShot.exitCode, 1, oneShot.stdout);
    assert.match(
      oneShot.stderr,
      /the group server's disk is full: the message was not stored; try again once it has room/,
    );
    const shell = await cli(["shell"], "send_message general from the shell\n");
    assert.match(
      shell.stdout,
      /error: the group server's disk is full: the message was not stored; try again once it has room \(the server said: the store of group "general" is out of room/,
    );

    const reads = async () => {
      const history = await ask(GroupCommand.History, { after: 0 });
      assert.equal(history.status, "200");
      assert.deepEqual(
        (history.body.messages as Array<{ seq: number }>).map((m) => m.seq),
        [1, 2, 3],
      );
      const info = await ask(GroupCommand.Info, {});
      assert.equal(info.status, "200");
      assert.equal(info.body.last, 3);
      assert.equal((await ask(GroupCommand.Subscribe, {})).status, "200");
    };
    await reads();

    // A restart with the disk still full: the store opens without writing and serves reads.
    await group?.proc.stop();
    fill(join(disk as string, "filler2")); // what the stop freed (a checkpoint), taken again
    await startGm();
    await reads();
    assert.equal((await send("still full")).body.code, "STORAGE_FULL");

    // Room again: the same server stores the next send.
    rmSync(filler);
    rmSync(join(disk as string, "filler2"));
    const stored = await send("room again");
    assert.equal(stored.status, "200", JSON.stringify(stored.body));
    assert.equal(stored.body.seq, 4);
  });
});
