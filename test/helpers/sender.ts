/**
 * A test client that sends a stream of messages with the real GmClient and reports every outcome
 * as one JSON line: {"ok":true,"text","seq"} once acknowledged, {"ok":false,"text","error"} if
 * the client gave up. Used to kill servers in the middle of a stream.
 *
 * Usage: sender.ts <server> <profile> <group> <count> [prefix]   (GM_HOME, GM_SERVER_KEY from the
 * environment)
 */
import { directoryKey } from "../../src/cli/keys.js";
import { GmClient } from "../../src/user/client.js";
import { Profile } from "../../src/user/profile.js";

const [server, profileName, group, countText, prefix = profileName] = process.argv.slice(2) as string[];
const profile = Profile.load(profileName);
// As the CLI does: the directory's key from GM_SERVER_KEY or the local server's announcement.
const serverKey = directoryKey(server as string, {}).key;
const client = new GmClient(profile, { server: server as string, security: { keys: profile.keys, serverKey } });
await client.join(group as string);
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
for (let i = 0; i < Number(countText); i++) {
  const text = `${prefix}-${i}`;
  try {
    const r = await client.send(group as string, text);
    process.stdout.write(`${JSON.stringify({ ok: true, text, seq: r.seq })}\n`);
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ ok: false, text, error: (err as Error).message })}\n`);
  }
}
await client.close();
