/** One caller's wait: when it is due, how much earlier it may run, what it runs. */
interface Waiting {
  readonly due: number;
  readonly early: number;
  readonly run: () => void;
}

/**
 * One timer for many callers that each want to run again after a while: the feeds of one group
 * server check in on one beat, instead of one timer per group drifting apart. A caller runs when
 * it is due, or earlier, by at most half its own wait, to join a beat that fires before then; so
 * after one round the feeds of a server are in step, and a check-in of each (and their HELLOs on
 * the shared events socket) go out together. No caller ever runs late because of another.
 */
export class Beat {
  private readonly waiting = new Set<Waiting>();
  private timer: NodeJS.Timeout | undefined;
  /** When the timer fires (Infinity: no timer). */
  private at = Number.POSITIVE_INFINITY;

  /** `now`: the clock that decides who is due (tests stop it; the timer itself is real). */
  constructor(private readonly now: () => number = Date.now) {}

  /** Callers waiting. */
  get size(): number {
    return this.waiting.size;
  }

  /** Runs `run` after about `ms` (see above); the function returned cancels it. */
  after(ms: number, run: () => void): () => void {
    const waiting: Waiting = { due: this.now() + ms, early: ms / 2, run };
    this.waiting.add(waiting);
    if (waiting.due < this.at) this.arm(waiting.due);
    return () => {
      if (this.waiting.delete(waiting) && this.waiting.size === 0) this.arm(Number.POSITIVE_INFINITY);
    };
  }

  private arm(at: number): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.at = at;
    if (at !== Number.POSITIVE_INFINITY) this.timer = setTimeout(() => this.fire(), Math.max(0, at - this.now()));
  }

  private fire(): void {
    const now = this.now();
    const due = [...this.waiting].filter((w) => w.due - w.early <= now);
    for (const w of due) this.waiting.delete(w);
    this.arm(Math.min(Number.POSITIVE_INFINITY, ...[...this.waiting].map((w) => w.due)));
    for (const w of due) w.run();
  }
}
