import { networkInterfaces } from "node:os";
import { EndpointError } from "../protocol/errors.js";

const HINT = "use tcp://host:port or host:port (for example tcp://127.0.0.1:6001)";

function parse(input: string): { host: string; port: string } {
  const text = input.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1];
  const rest = scheme === undefined ? text : text.slice(scheme.length + 3);
  if (scheme !== undefined && scheme !== "tcp") {
    throw new EndpointError(`invalid endpoint "${input}": only tcp:// is supported; ${HINT}`);
  }
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]*):(\*|\d{1,5})$/.exec(rest);
  if (m === null) throw new EndpointError(`invalid endpoint "${input}": ${HINT}`);
  const host = m[1] as string;
  const port = m[2] as string;
  if (port !== "*" && Number(port) > 65535) {
    throw new EndpointError(`invalid endpoint "${input}": port ${port} is out of range (0-65535)`);
  }
  return { host, port };
}

const WILDCARD = new Set(["", "*", "0.0.0.0", "[::]"]);

/** Normalizes an address to bind: `host:port`, `:port` and `*:port` are accepted; port `0` or `*` picks a free one. */
export function bindEndpoint(input: string): string {
  const { host, port } = parse(input);
  return `tcp://${WILDCARD.has(host) ? "*" : host}:${port === "0" ? "*" : port}`;
}

/** Normalizes an address to connect to: a concrete host and port. */
export function connectEndpoint(input: string): string {
  const { host, port } = parse(input);
  if (WILDCARD.has(host))
    throw new EndpointError(`invalid endpoint "${input}": a client needs a host to connect to, not a wildcard`);
  if (port === "*" || port === "0")
    throw new EndpointError(`invalid endpoint "${input}": a client needs a port number`);
  return `tcp://${host}:${port}`;
}

/** True when a bound endpoint listens on every interface (tcp://*:p, tcp://0.0.0.0:p). */
export function isWildcard(bound: string): boolean {
  return WILDCARD.has(parse(bound).host);
}

/** Where a server's events socket binds by default: the host of its main endpoint, any free port. */
export function eventsBindEndpoint(bind: string): string {
  const { host } = parse(bind);
  return `tcp://${WILDCARD.has(host) ? "*" : host}:*`;
}

/**
 * The address that peers should use to reach a bound endpoint: `advertise` when given (with the
 * bound port instead of its own when `keepPort`, for a second socket of the same server), else the
 * bound address itself, else (for a wildcard bind) this host's first non-loopback IPv4 address.
 */
export function advertisedEndpoint(bound: string, advertise?: string, keepPort = false): string {
  const { host, port } = parse(bound);
  if (advertise !== undefined) {
    const connect = connectEndpoint(advertise);
    return keepPort ? `tcp://${parse(connect).host}:${port}` : connect;
  }
  if (!WILDCARD.has(host)) return `tcp://${host}:${port}`;
  const external = Object.values(networkInterfaces())
    .flat()
    .find((a) => a !== undefined && a.family === "IPv4" && !a.internal);
  return `tcp://${external?.address ?? "127.0.0.1"}:${port}`;
}

/** Turns a bind failure into an error that names the address and the cause. */
export function bindError(endpoint: string, err: unknown): EndpointError {
  const code = (err as { code?: string }).code ?? "";
  const detail = err instanceof Error ? err.message : String(err);
  if (code === "EADDRINUSE" || /in use/i.test(detail)) {
    return new EndpointError(`cannot listen on ${endpoint}: the address is already in use (is another gm running?)`);
  }
  if (code === "EADDRNOTAVAIL" || /not available/i.test(detail)) {
    return new EndpointError(`cannot listen on ${endpoint}: no local interface has that address`);
  }
  return new EndpointError(`cannot listen on ${endpoint}: ${detail}`);
}
