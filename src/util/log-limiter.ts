import type { Logger } from "./log.js";

interface Pending {
  count: number;
  last: string;
  timer: NodeJS.Timeout;
}

/** How a period's summary line reads: `count` more lines of the kind, the last of them `last`. */
export type Summary = (count: number, last: string) => string;

const defaultSummary =
  (kind: string): Summary =>
  (count, last) =>
    `${count} more ${kind} in the last minute (the last: ${last})`;

/**
 * Repeated log lines at a bounded rate, so a flood of bad requests or refused handshakes costs the
 * log a line a minute, not a line a request. Lines are grouped by `kind` (a fixed word from the
 * code, never from the network): the first of a kind is logged at once; the ones after it within
 * the period are only counted, and the period ends with one summary line giving the count and the
 * last of them (then another period starts). A period without any lets the next line through at
 * once again. The first line says that a summary follows, so that an operator who sees one line
 * (under --quiet perhaps the only one) knows that more may come and be counted. Timers are
 * unref'd: a limiter never keeps a process alive.
 */
export class LogLimiter {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly log: Logger,
    private readonly periodMs = 60_000,
  ) {}

  /** Logs (or counts) a line of `kind`; `count` > 1 when the line stands for that many events. */
  line(kind: string, line: string, summary: Summary = defaultSummary(kind), count = 1): void {
    const p = this.pending.get(kind);
    if (p !== undefined) {
      p.count += count;
      p.last = line;
      return;
    }
    this.log(`${line} (${this.note})`);
    this.startPeriod(kind, summary);
  }

  /** What the first line of a kind adds: that further ones are summed up, and how often. */
  private get note(): string {
    const every = this.periodMs === 60_000 ? "a minute" : `${this.periodMs / 1000} s`;
    return `more like this within ${every} are summed up in one line`;
  }

  private startPeriod(kind: string, summary: Summary): void {
    const p: Pending = {
      count: 0,
      last: "",
      timer: setTimeout(() => {
        this.pending.delete(kind);
        if (p.count === 0) return;
        this.log(summary(p.count, p.last));
        this.startPeriod(kind, summary);
      }, this.periodMs),
    };
    p.timer.unref();
    this.pending.set(kind, p);
  }

  /** Whether lines of `kind` are being counted now (a period is running), not logged at once. */
  counting(kind: string): boolean {
    return this.pending.has(kind);
  }

  /** Stops the timers; counts not yet reported are dropped. */
  stop(): void {
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
  }
}
