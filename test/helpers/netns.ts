/**
 * A small private network of "hosts" made of Linux network namespaces (iproute2's `ip netns`), for
 * tests that run gm as it runs on several machines. Every host gets one veth whose other end is a
 * port of a bridge in a separate "switch" namespace; addresses are private test addresses that
 * exist only inside these namespaces, so no traffic ever reaches the machine's own interfaces,
 * routes or networks. Nothing is created in the root namespace.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { BIN, type RunResult } from "./gm.js";

/** The network could not be made here (not root, no iproute2, no veth/bridge support…). */
export class NetnsUnavailable extends Error {
  override readonly name = "NetnsUnavailable";
}

/** Runs `ip …`; rejects with its stderr. */
export function ip(args: readonly string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("ip", args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err === null) resolve(stdout);
      else reject(new Error(`ip ${args.join(" ")}: ${String(stderr).trim() || err.message}`));
    });
  });
}

function run(command: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(command[0] as string, command.slice(1), { timeout: 10_000 }, (err, _stdout, stderr) => {
      if (err === null) resolve();
      else reject(new Error(`${command.join(" ")}: ${String(stderr).trim() || err.message}`));
    });
  });
}

export interface Host {
  /** The namespace's name (unique to this test run). */
  readonly ns: string;
  /** The host's address on the test network. */
  readonly address: string;
  /** Its interface inside its namespace. */
  readonly dev: string;
  /** Its bridge port, inside the switch namespace. */
  readonly port: string;
  /** The command prefix that runs a program on this host. */
  readonly exec: readonly string[];
}

/** A /24 of the private 10.213.0.0/16, inside the namespaces only. */
const SUBNET = "10.213.7";

export class TestNetwork<H extends string> {
  private destroyed = false;

  private constructor(
    readonly switchNs: string,
    readonly hosts: Readonly<Record<H, Host>>,
    private readonly created: string[],
  ) {}

  /**
   * Makes a switch namespace with a bridge and one namespace per host name, each joined to the
   * bridge by a veth pair, with `lo` up. Names are `<tag>-<host>`; pick a tag unique to the run.
   * Throws NetnsUnavailable (after removing anything half-made) when this machine cannot do it.
   */
  static async create<H extends string>(tag: string, names: readonly H[]): Promise<TestNetwork<H>> {
    const uid = process.getuid?.();
    if (uid !== 0) {
      throw new NetnsUnavailable(`needs root to create network namespaces (running as uid ${uid ?? "unknown"})`);
    }
    try {
      await ip(["-V"]);
    } catch (err) {
      throw new NetnsUnavailable(`iproute2's ip command is not usable: ${(err as Error).message}`);
    }
    const created: string[] = [];
    const switchNs = `${tag}-sw`;
    const hosts = {} as Record<H, Host>;
    try {
      for (const ns of [switchNs, ...names.map((n) => `${tag}-${n}`)]) {
        await ip(["netns", "add", ns]);
        created.push(ns);
        await ip(["-n", ns, "link", "set", "lo", "up"]);
      }
      await ip(["-n", switchNs, "link", "add", "br0", "type", "bridge"]);
      await ip(["-n", switchNs, "link", "set", "br0", "up"]);
      let octet = 1;
      for (const name of names) {
        const ns = `${tag}-${name}`;
        const port = `p-${name}`.slice(0, 15);
        const address = `${SUBNET}.${octet++}`;
        // Both ends are made inside namespaces: the peer goes straight into the host's namespace.
        await ip(["-n", switchNs, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns]);
        await ip(["-n", switchNs, "link", "set", port, "master", "br0"]);
        await ip(["-n", switchNs, "link", "set", port, "up"]);
        await ip(["-n", ns, "addr", "add", `${address}/24`, "dev", "eth0"]);
        await ip(["-n", ns, "link", "set", "eth0", "up"]);
        hosts[name] = { ns, address, dev: "eth0", port, exec: ["ip", "netns", "exec", ns] };
      }
      // Programs must be able to run inside (ip netns exec also needs a private mount namespace).
      const first = Object.values<Host>(hosts)[0];
      if (first !== undefined) await run([...first.exec, process.execPath, "-e", ""]);
    } catch (err) {
      await Promise.allSettled(created.map((ns) => ip(["netns", "delete", ns])));
      throw new NetnsUnavailable(`cannot build the test network: ${(err as Error).message}`);
    }
    return new TestNetwork(switchNs, hosts, created);
  }

  /**
   * Takes a host's link down or up: on the host's own interface (its NIC goes down, and the host
   * knows it), or on its switch port (the cable is cut: packets vanish, the host sees no carrier).
   */
  link(host: H, state: "up" | "down", where: "host" | "switch" = "host"): Promise<string> {
    const h = this.hosts[host];
    if (where === "switch") return ip(["-n", this.switchNs, "link", "set", h.port, state]);
    return ip(["-n", h.ns, "link", "set", h.dev, state]);
  }

  /** Adds another address to a host's interface (for --advertise). */
  addAddress(host: H, octet: number): Promise<string> {
    const h = this.hosts[host];
    return ip(["-n", h.ns, "addr", "add", `${SUBNET}.${octet}/24`, "dev", h.dev]).then(() => `${SUBNET}.${octet}`);
  }

  /** Deletes the namespaces (their interfaces go with them). Kill the processes inside first. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const results = await Promise.allSettled(this.created.map((ns) => ip(["netns", "delete", ns])));
    const failed = results.filter((r) => r.status === "rejected").map((r) => String(r.reason));
    if (failed.length > 0) throw new Error(`could not delete every namespace: ${failed.join("; ")}`);
  }

  /** Synchronous last resort (process exit): deletes whatever namespaces are left. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const ns of this.created) {
      try {
        execFileSync("ip", ["netns", "delete", ns], { stdio: "ignore", timeout: 5000 });
      } catch {
        // already gone
      }
    }
  }
}

const running = new Set<ChildProcess>();

/** SIGKILLs every one-shot command from `gmOn` that is still running (cleanup after a failure). */
export function killCommands(): void {
  for (const child of running) child.kill("SIGKILL");
}

/** Runs one gm command on a host to completion; SIGKILLed (and rejected) after `timeoutMs`. */
export function gmOn(
  host: Host,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 30_000,
): Promise<RunResult & { ms: number }> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const fullEnv: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1", ...env };
    delete fullEnv.FORCE_COLOR;
    delete fullEnv.GM_SERVER;
    delete fullEnv.GM_PROFILE;
    const child = spawn(host.exec[0] as string, [...host.exec.slice(1), process.execPath, BIN, ...args], {
      env: fullEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    running.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`gm ${args.join(" ")} on ${host.ns} did not finish in ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("error", (err) => {
      running.delete(child);
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (exitCode) => {
      running.delete(child);
      clearTimeout(timer);
      resolve({ exitCode, stdout, stderr, ms: Date.now() - start });
    });
  });
}
