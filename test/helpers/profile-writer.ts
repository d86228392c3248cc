/**
 * A process that changes one profile many times, as a shell and one-shot commands do at once:
 * waits for a line on stdin (so that a test's processes start together), then <times> times joins
 * a group of its own, moves its own group's read marker and the shared group's forward, and writes
 * back the shared group as it saw it at the start (a change computed from a stale view, as a
 * client that learned a new address does), which must not take its marker back.
 *
 * Usage: profile-writer.ts <home> <profile> <index> <times>
 */
import { once } from "node:events";
import { Profile } from "../../src/user/profile.js";

const [home, name, indexText, timesText] = process.argv.slice(2) as [string, string, string, string];
const index = Number(indexText);
const profile = Profile.load(name, home);
const stale = profile.data.groups.shared;
if (stale === undefined) throw new Error("the test joins the shared group first");
process.stdout.write("ready\n");
await once(process.stdin, "data");
for (let k = 0; k < Number(timesText); k++) {
  profile.update((d) => {
    d.groups[`w${index}-${k}`] = { id: `id-${index}-${k}`, address: "tcp://127.0.0.1:1", joined: Date.now() };
  });
  profile.markRead({ [`own${index}`]: k + 1, shared: index * 1000 + k });
  profile.update((d) => {
    d.groups.shared = { ...stale, address: `tcp://127.0.0.1:${1000 + index}` };
  });
}
process.stdout.write("done\n");
process.exit(0);
