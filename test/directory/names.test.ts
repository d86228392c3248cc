/**
 * Issue 14: the directory's name bindings file is bounded. A binding lapses a set time after its
 * name was last registered, a refresh is written at most once a day, and a cap refuses new names
 * when full. Real files in a temp dir; the two clocks are given to NameBindings so that days can
 * pass within a test.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { NAME_LOAD_GRACE_MS, NameBindings } from "../../src/directory/names.js";
import { newKeyPair } from "../../src/protocol/keys.js";

const DAY = 24 * 60 * 60 * 1000;
const root = mkdtempSync(join(tmpdir(), "gm-names-"));
after(() => rmSync(root, { recursive: true, force: true }));

let files = 0;
/** A fresh file path, clocks the test moves, and a way to open the file with them. */
function setup(options: { lapseMs?: number; max?: number } = {}) {
  const file = join(root, `names-${++files}.json`);
  const clock = { mono: 5_000, wall: Date.parse("2026-06-01T12:00:00.000Z") };
  const advance = (ms: number) => {
    clock.mono += ms;
    clock.wall += ms;
  };
  const open = () =>
    new NameBindings(file, { lapseMs: 30 * DAY, ...options, now: () => clock.mono, wallNow: () => clock.wall });
  const read = () =>
    JSON.parse(readFileSync(file, "utf8")) as { names: Record<string, { key: string; registered: string }> };
  return { file, clock, advance, open, read };
}

describe("NameBindings: lapse, refresh and cap", () => {
  test("a binding records when it was registered, in the wall clock, and survives a restart", () => {
    const { clock, open, read } = setup();
    const key = newKeyPair().publicKey;
    open().bind("General", key);
    assert.deepEqual(read().names, { General: { key, registered: new Date(clock.wall).toISOString() } });
    const again = open();
    assert.equal(again.get("general"), key);
    assert.equal(again.spelling("GENERAL"), "General");
  });

  test("it lapses once the name goes unregistered longer than the lapse; a refresh starts it over", () => {
    const { advance, open, read } = setup();
    const key = newKeyPair().publicKey;
    const names = open();
    names.bind("general", key);
    names.bind("random", key);
    advance(20 * DAY);
    names.refresh("general");
    advance(11 * DAY); // random: 31 days unregistered; general: 11
    assert.equal(names.get("random"), undefined);
    assert.equal(names.get("general"), key);
    assert.equal(names.size, 1);
    // The file forgets it at the next write, and a reload agrees.
    names.bind("lobby", key);
    assert.deepEqual(Object.keys(read().names), ["general", "lobby"]);
    assert.equal(open().get("random"), undefined);
    advance(20 * DAY); // general: 31 days since its refresh
    assert.equal(names.get("general"), undefined);
  });

  test("refreshes rewrite the file at most once a day", () => {
    const { file, advance, open, read } = setup();
    const key = newKeyPair().publicKey;
    const names = open();
    names.bind("general", key);
    const first = readFileSync(file, "utf8");
    for (let s = 0; s < 100; s++) {
      advance(60_000);
      names.refresh("general");
    }
    assert.equal(readFileSync(file, "utf8"), first, "100 minutes of refreshes: the file is as bound");
    advance(DAY);
    names.refresh("general");
    const registered = Date.parse(read().names.general?.registered ?? "");
    assert.equal(registered, Date.parse(JSON.parse(first).names.general.registered) + DAY + 100 * 60_000);
    // Even a restart right before the day is up keeps the binding: at most a day of refreshes is lost.
    advance(30 * DAY - 1000);
    assert.equal(open().get("general"), key);
  });

  test("the wall clock set ahead within a run does not lapse a refreshed binding", () => {
    const { clock, open } = setup();
    const key = newKeyPair().publicKey;
    const names = open();
    names.bind("general", key);
    clock.wall += 365 * DAY;
    clock.mono += 1000;
    names.refresh("general");
    assert.equal(names.get("general"), key);
  });

  test("a file from an older gm (keys without times) loads as registered now, and is upgraded", () => {
    const { file, clock, advance, open, read } = setup();
    const key = newKeyPair().publicKey;
    writeFileSync(file, JSON.stringify({ names: { general: key } }));
    const names = open();
    assert.equal(names.get("GENERAL"), key);
    assert.deepEqual(read().names, { general: { key, registered: new Date(clock.wall).toISOString() } });
    // The upgrade fixed the time: a restart 31 days later does not renew it (grace aside).
    advance(31 * DAY);
    const later = open();
    assert.match(later.dropped[0] ?? "", /^1 name binding in .* not registered for over 30 days: kept 1 hour more/);
    advance(NAME_LOAD_GRACE_MS + 1);
    assert.equal(later.get("general"), undefined);
  });

  test("bindings that lapsed while the directory was stopped get an hour for their servers", () => {
    const { clock, advance, open, read } = setup();
    const owner = newKeyPair().publicKey;
    open().bind("general", owner);
    advance(90 * DAY);
    const names = open();
    assert.equal(names.get("general"), owner, "its group server may register it again first");
    names.refresh("general");
    assert.equal(read().names.general?.registered, new Date(clock.wall).toISOString());
    advance(NAME_LOAD_GRACE_MS + 1);
    assert.equal(names.get("general"), owner, "refreshed: kept");

    const other = setup();
    other.open().bind("quiet", owner);
    other.advance(90 * DAY);
    const stopped = other.open();
    other.advance(NAME_LOAD_GRACE_MS + 1);
    assert.equal(stopped.get("quiet"), undefined, "not registered within the hour: free");
  });

  test("a time in the future counts as now; a bad time or key is a clear error", () => {
    const { file, clock, open } = setup();
    const key = newKeyPair().publicKey;
    const future = new Date(clock.wall + 400 * DAY).toISOString();
    writeFileSync(file, JSON.stringify({ names: { general: { key, registered: future } } }));
    const names = open();
    clock.mono += 29 * DAY;
    assert.equal(names.get("general"), key);
    clock.mono += 2 * DAY;
    assert.equal(names.get("general"), undefined);

    writeFileSync(file, JSON.stringify({ names: { general: { key, registered: "last week" } } }));
    assert.throws(open, { message: /hold a bad "registered" time for "general"; fix or move the file/ });
    writeFileSync(file, JSON.stringify({ names: { general: { registered: future } } }));
    assert.throws(open, { message: /hold a bad key for "general"/ });
  });

  test("at the cap there is no room, until a binding lapses or is released", () => {
    const { advance, open, read } = setup({ max: 2 });
    const key = newKeyPair().publicKey;
    const names = open();
    names.bind("one", key);
    advance(10 * DAY);
    names.bind("two", key);
    assert.equal(names.hasRoom(), false);
    advance(21 * DAY); // "one" lapses
    assert.equal(names.hasRoom(), true);
    names.bind("three", key);
    assert.equal(names.hasRoom(), false);
    assert.equal(names.release("TWO"), true);
    assert.equal(names.hasRoom(), true);
    assert.deepEqual(Object.keys(read().names), ["three"]);
    assert.equal(names.release("one"), false, "a lapsed binding is not bound");
  });
});
