import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Completable, commonPrefix, completionTarget, matches } from "../../src/user/completion.js";

const commands: Record<string, Completable> = {
  show_groups: {},
  join_group: { complete: ["directory"] },
  send_message: { complete: ["joined"] },
  invite_only: { complete: ["joined", ["on", "off"]] },
  help: { complete: ["command"] },
};

describe("completionTarget", () => {
  it("completes the first word to a command, also when the line is empty", () => {
    assert.deepEqual(completionTarget("sho", commands), { word: "sho", from: "command" });
    assert.deepEqual(completionTarget("", commands), { word: "", from: "command" });
    assert.deepEqual(completionTarget("  he", commands), { word: "he", from: "command" });
  });

  it("completes an argument to what the command's table says for its position", () => {
    assert.deepEqual(completionTarget("join_group gen", commands), { word: "gen", from: "directory" });
    assert.deepEqual(completionTarget("join_group ", commands), { word: "", from: "directory" });
    assert.deepEqual(completionTarget("invite_only general o", commands), { word: "o", from: ["on", "off"] });
    assert.deepEqual(completionTarget("help  get", commands), { word: "get", from: "command" });
  });

  it("completes nothing in free text, past the last argument, after an unknown command, or in quotes", () => {
    assert.equal(completionTarget("send_message general hel", commands), undefined);
    assert.equal(completionTarget("join_group general x", commands), undefined);
    assert.equal(completionTarget("show_groups g", commands), undefined);
    assert.equal(completionTarget("frob g", commands), undefined);
    assert.equal(completionTarget("toString g", commands), undefined);
    assert.equal(completionTarget('join_group "gen', commands), undefined);
    assert.equal(completionTarget("join_group gen\\ ", commands), undefined);
  });
});

describe("matches", () => {
  it("offers the names that start with the word, sorted; one alone ends with a space", () => {
    assert.deepEqual(matches("g", ["random", "general", "games"]), ["games", "general"]);
    assert.deepEqual(matches("gen", ["random", "general", "games"]), ["general "]);
    assert.deepEqual(matches("x", ["random"]), []);
    assert.deepEqual(matches("", ["b", "a", "a"]), ["a", "b"]);
  });

  it("never offers a name that is not a valid name (nothing raw from the network reaches the terminal)", () => {
    assert.deepEqual(matches("g", ["g\u001b[2Jx", "g x", "good"]), ["good "]);
  });
});

describe("commonPrefix", () => {
  it("is the longest start all words share", () => {
    assert.equal(commonPrefix(["general", "generic"]), "gener");
    assert.equal(commonPrefix(["general "]), "general ");
    assert.equal(commonPrefix(["a", "b"]), "");
    assert.equal(commonPrefix([]), "");
  });
});
