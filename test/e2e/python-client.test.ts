/**
 * The minimal Python client of docs/PROTOCOL.md §11, taken from the document itself and run with
 * pyzmq against `gm up`: the protocol document is enough to write a client in another language,
 * CURVE and the request proofs included. Needs a python3 with pyzmq (CURVE) and cryptography
 * (Debian: python3-zmq, python3-cryptography; .ci/run installs them).
 */
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { GmProcess, gm, tempHome } from "../helpers/gm.js";

const PROTOCOL = resolve(import.meta.dirname, "../../docs/PROTOCOL.md");

/** A python3 that has pyzmq with CURVE and cryptography, if this machine has one. */
function python(): string | undefined {
  for (const candidate of ["python3", "/usr/bin/python3"]) {
    try {
      execFileSync(candidate, ["-c", "import zmq, cryptography; assert zmq.has('curve')"], { stdio: "ignore" });
      return candidate;
    } catch {
      // Try the next one.
    }
  }
  return undefined;
}

/** The first ```python block after the "## 11." heading. */
function listing(): string {
  const doc = readFileSync(PROTOCOL, "utf8");
  const section = doc.slice(doc.indexOf("## 11. Minimal Python client"));
  const m = /```python\n([\s\S]*?)```/.exec(section);
  assert.ok(m, "PROTOCOL.md §11 has a python listing");
  return m[1] as string;
}

const PY = python();
// CI installs the packages and sets this, so that there the test can never be skipped silently.
if (PY === undefined && process.env.GM_REQUIRE_PYTHON === "1") {
  throw new Error("GM_REQUIRE_PYTHON=1 but no python3 with pyzmq (CURVE) and cryptography was found");
}

describe("the Python client of PROTOCOL.md §11", {
  skip: PY === undefined && "no python3 with pyzmq and cryptography",
}, () => {
  const { home, cleanup } = tempHome();
  let up: GmProcess;
  let endpoint = "";
  let key = "";

  before(async () => {
    up = new GmProcess(["up", "--bind", "127.0.0.1:0", "--address", "127.0.0.1:0", "--quiet"], { GM_HOME: home });
    const m = await up.waitFor(/message server on (tcp:\/\/\S+);.*public key (\S{40})/);
    endpoint = m[1] as string;
    key = m[2] as string;
    writeFileSync(join(home, "gm_min.py"), listing());
  });

  after(async () => {
    await up?.stop();
    cleanup();
  });

  const run = async () => {
    try {
      const { stdout, stderr } = await promisify(execFile)(
        PY as string,
        [join(home, "gm_min.py"), endpoint, key, "general"],
        {
          cwd: home,
          timeout: 30_000,
          killSignal: "SIGKILL",
        },
      );
      return { exitCode: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { exitCode: e.code ?? 1, stdout: e.stdout ?? "", stderr: e.stderr ?? String(err) };
    }
  };

  it("joins, sends and reads over CURVE as a user of its own key, which it keeps", async () => {
    const first = await run();
    assert.equal(first.exitCode, 0, first.stderr);
    const fp = /joined as ([0-9a-f]{8})/.exec(first.stdout)?.[1];
    assert.ok(fp, first.stdout);
    assert.match(first.stdout, new RegExp(`#1 \\d\\d:\\d\\d:\\d\\d py \\(${fp}\\): hello from Python\n`));
    assert.match(first.stdout, new RegExp(`#2 \\d\\d:\\d\\d:\\d\\d py \\(${fp}\\): héllo, wörld ✓\n`));
    assert.equal(statSync(join(home, "gm_min.key")).mode & 0o777, 0o600);
    // The same key file is the same user: already a member, and gm's own client sees it by key.
    const second = await run();
    assert.equal(second.exitCode, 0, second.stderr);
    assert.match(second.stdout, new RegExp(`already a member as ${fp}`));
    const read = await gm(["user", "join", "general", "--server", endpoint], { env: { GM_HOME: home } });
    assert.equal(read.exitCode, 0, read.stderr);
    const messages = await gm(["user", "messages", "general", "--server", endpoint], { env: { GM_HOME: home } });
    assert.match(messages.stdout, new RegExp(`py \\(${fp}\\): hello from Python`));
  });
});
