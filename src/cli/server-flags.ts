import { setFlagsFromString } from "node:v8";

/**
 * Keeps a long-running server's young generation at its initial size. V8 otherwise grows it to
 * tens of MB under pipelined load (requests stay alive across a disk sync, survive scavenges and
 * make V8 enlarge the nursery), which is most of a group server's resident memory; small, frequent
 * scavenges cost no measurable throughput here (docs/PERFORMANCE.md, "Memory").
 */
export function serverHeap(): void {
  setFlagsFromString("--semi-space-growth-factor=1");
}
