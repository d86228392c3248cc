import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { defaultDataDir, gmHome, requestPolicy } from "../../src/util/config.js";

describe("gmHome and defaultDataDir", () => {
  it("GM_HOME wins, then XDG_STATE_HOME/gm", () => {
    assert.equal(gmHome({ GM_HOME: "/x/gm", XDG_STATE_HOME: "/y" }), "/x/gm");
    assert.equal(gmHome({ XDG_STATE_HOME: "/y" }), "/y/gm");
    assert.equal(defaultDataDir({ GM_HOME: "/x/gm" }), join("/x/gm", "data"));
  });
});

describe("requestPolicy", () => {
  it("is empty (the client's defaults) when nothing is set", () => {
    assert.deepEqual(requestPolicy({}), {});
    assert.deepEqual(requestPolicy({ GM_REQUEST_TIMEOUT_MS: "" }), {});
  });

  it("reads the per-try timeout and the tries", () => {
    assert.deepEqual(requestPolicy({ GM_REQUEST_TIMEOUT_MS: "500", GM_REQUEST_TRIES: "1" }), {
      timeoutMs: 500,
      tries: 1,
    });
  });

  it("refuses values that are not whole numbers in range, naming the variable", () => {
    for (const [key, value] of [
      ["GM_REQUEST_TIMEOUT_MS", "fast"],
      ["GM_REQUEST_TIMEOUT_MS", "1.5"],
      ["GM_REQUEST_TIMEOUT_MS", "10"],
      ["GM_REQUEST_TRIES", "0"],
      ["GM_REQUEST_TRIES", "-2"],
    ] as const) {
      assert.throws(() => requestPolicy({ [key]: value }), new RegExp(`^UsageError: ${key} must be a whole number`));
    }
  });
});
