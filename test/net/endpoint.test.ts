import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { advertisedEndpoint, bindEndpoint, bindError, connectEndpoint, isWildcard } from "../../src/net/endpoint.js";
import { EndpointError } from "../../src/protocol/errors.js";

const invalid = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof EndpointError, String(err));
    assert.equal(err.name, "EndpointError");
    assert.match(err.message, message);
    return true;
  });

describe("bindEndpoint", () => {
  test("normalizes host:port with or without tcp://", () => {
    assert.equal(bindEndpoint("127.0.0.1:6001"), "tcp://127.0.0.1:6001");
    assert.equal(bindEndpoint("tcp://127.0.0.1:6001"), "tcp://127.0.0.1:6001");
    assert.equal(bindEndpoint("  localhost:6001 "), "tcp://localhost:6001");
    assert.equal(bindEndpoint("[::1]:6001"), "tcp://[::1]:6001");
  });

  test("wildcard hosts become *", () => {
    for (const input of [":6001", "*:6001", "0.0.0.0:6001", "[::]:6001", "tcp://0.0.0.0:6001"]) {
      assert.equal(bindEndpoint(input), "tcp://*:6001", input);
    }
  });

  test("port 0 or * picks a free port", () => {
    assert.equal(bindEndpoint("127.0.0.1:0"), "tcp://127.0.0.1:*");
    assert.equal(bindEndpoint("127.0.0.1:*"), "tcp://127.0.0.1:*");
    assert.equal(bindEndpoint(":0"), "tcp://*:*");
  });
});

describe("connectEndpoint", () => {
  test("needs a concrete host and port", () => {
    assert.equal(connectEndpoint("127.0.0.1:5555"), "tcp://127.0.0.1:5555");
    assert.equal(connectEndpoint("tcp://host.example:1"), "tcp://host.example:1");
    assert.equal(connectEndpoint("[::1]:65535"), "tcp://[::1]:65535");
  });

  test("a wildcard host is refused", () => {
    for (const input of ["*:6001", ":6001", "0.0.0.0:6001", "tcp://[::]:6001"]) {
      invalid(() => connectEndpoint(input), /a client needs a host to connect to, not a wildcard/);
    }
  });

  test("port 0 or * is refused", () => {
    invalid(() => connectEndpoint("127.0.0.1:0"), /needs a port number/);
    invalid(() => connectEndpoint("127.0.0.1:*"), /needs a port number/);
  });
});

describe("invalid endpoints", () => {
  test("another scheme", () => {
    for (const input of ["udp://127.0.0.1:1", "ipc:///tmp/gm.sock", "http://host:80", "inproc://x:1"]) {
      invalid(() => bindEndpoint(input), /only tcp:\/\/ is supported/);
      invalid(() => connectEndpoint(input), /only tcp:\/\/ is supported/);
    }
  });

  test("no port, or no host:port shape at all", () => {
    for (const input of ["127.0.0.1", "tcp://127.0.0.1", "host:", "", "host:port", "a:b:1", "tcp://h:1/x", "h :1"]) {
      invalid(() => bindEndpoint(input), /use tcp:\/\/host:port or host:port/);
    }
  });

  test("port above 65535", () => {
    invalid(() => bindEndpoint("127.0.0.1:65536"), /port 65536 is out of range \(0-65535\)/);
    invalid(() => connectEndpoint("127.0.0.1:99999"), /out of range/);
    invalid(() => bindEndpoint("127.0.0.1:123456"), /invalid endpoint/);
    assert.equal(bindEndpoint("127.0.0.1:65535"), "tcp://127.0.0.1:65535");
  });

  test("the message quotes the input and gives an example", () => {
    invalid(() => connectEndpoint("nonsense"), /invalid endpoint "nonsense".*tcp:\/\/127\.0\.0\.1:6001/);
  });
});

describe("isWildcard", () => {
  test("true for every-interface binds only", () => {
    assert.equal(isWildcard("tcp://*:6001"), true);
    assert.equal(isWildcard("tcp://0.0.0.0:6001"), true);
    assert.equal(isWildcard("tcp://[::]:6001"), true);
    assert.equal(isWildcard("tcp://127.0.0.1:6001"), false);
    assert.equal(isWildcard("tcp://[::1]:6001"), false);
  });
});

describe("advertisedEndpoint", () => {
  test("a concrete bound address is advertised as is", () => {
    assert.equal(advertisedEndpoint("tcp://127.0.0.1:6001"), "tcp://127.0.0.1:6001");
  });

  test("an explicit advertise address wins, normalized", () => {
    assert.equal(advertisedEndpoint("tcp://*:6001", "gm.example.org:7000"), "tcp://gm.example.org:7000");
    assert.equal(advertisedEndpoint("tcp://127.0.0.1:6001", "tcp://10.0.0.5:6001"), "tcp://10.0.0.5:6001");
  });

  test("an advertise address must itself be connectable", () => {
    invalid(() => advertisedEndpoint("tcp://*:6001", "*:6001"), /not a wildcard/);
    invalid(() => advertisedEndpoint("tcp://*:6001", "udp://h:1"), /only tcp/);
  });

  test("a wildcard bind advertises a concrete IPv4 address with the same port", () => {
    const advertised = advertisedEndpoint("tcp://*:6001");
    assert.match(advertised, /^tcp:\/\/\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}:6001$/);
    assert.equal(isWildcard(advertised), false);
    assert.equal(connectEndpoint(advertised), advertised);
  });
});

describe("bindError", () => {
  test("names the address and the cause", () => {
    const inUse = bindError(
      "tcp://127.0.0.1:6001",
      Object.assign(new Error("Address already in use"), { code: "EADDRINUSE" }),
    );
    assert.ok(inUse instanceof EndpointError);
    assert.match(inUse.message, /cannot listen on tcp:\/\/127\.0\.0\.1:6001: the address is already in use/);
    const notAvail = bindError("tcp://10.9.9.9:1", new Error("Can't assign requested address: not available"));
    assert.match(notAvail.message, /no local interface has that address/);
    assert.match(bindError("tcp://h:1", "weird").message, /cannot listen on tcp:\/\/h:1: weird/);
  });
});
