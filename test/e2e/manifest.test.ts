/** The committed oclif.manifest.json describes exactly the built commands, so `--help` can trust it. */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { it } from "node:test";
import { pathToFileURL } from "node:url";
import { gm } from "../helpers/gm.js";

const root = resolve(import.meta.dirname, "../..");
const manifest = JSON.parse(readFileSync(join(root, "oclif.manifest.json"), "utf8")) as {
  version: string;
  commands: Record<string, { summary?: string; flags: Record<string, unknown>; args: Record<string, unknown> }>;
};

function commandFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? commandFiles(join(dir, e.name)) : e.name.endsWith(".js") ? [join(dir, e.name)] : [],
  );
}

it("lists every built command (regenerate with `npm run manifest`) with its flags and args, at the package's version", async () => {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  assert.equal(manifest.version, pkg.version);
  const dir = join(root, "dist", "commands");
  const built: Record<string, { summary: string; flags: string[]; args: string[] }> = {};
  for (const file of commandFiles(dir)) {
    const id = relative(dir, file).replace(/\.js$/, "").split("/").join(":");
    const cls = (await import(pathToFileURL(file).href)).default;
    built[id] = {
      summary: cls.summary,
      flags: Object.keys({ ...cls.baseFlags, ...cls.flags }).sort(),
      args: Object.keys(cls.args ?? {}).sort(),
    };
  }
  const listed = Object.fromEntries(
    Object.entries(manifest.commands).map(([id, c]) => [
      id,
      { summary: c.summary, flags: Object.keys(c.flags).sort(), args: Object.keys(c.args).sort() },
    ]),
  );
  assert.deepEqual(listed, built);
});

it("answers --help from the manifest for every command", async () => {
  const root = await gm(["--help"]);
  assert.equal(root.exitCode, 0);
  assert.match(root.stdout, /server\s+Run the message server/);
  for (const id of Object.keys(manifest.commands)) {
    const r = await gm([...id.split(":"), "--help"]);
    assert.equal(r.exitCode, 0, `${id}: ${r.stderr}`);
    assert.match(r.stdout, /EXAMPLES/, id);
  }
});

it("prints the same root help from its build-time copy as oclif renders now", async () => {
  const cached = await gm(["--help"]);
  const live = await gm(["--help"], { env: { GM_NO_HELP_CACHE: "1", COLUMNS: "80" } });
  assert.equal(live.exitCode, 0, live.stderr);
  assert.equal(cached.stdout, live.stdout);
  assert.equal((await gm([])).stdout, live.stdout, "no arguments shows the root help too");
});
