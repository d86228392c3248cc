/** A timestamp that could not be understood; the message lists the accepted forms. */
export class TimestampError extends Error {
  override readonly name: string = "TimestampError";
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export const TIMESTAMP_FORMS =
  "ISO-8601 (2026-11-25T10:30:00Z), HH:MM[:SS] today in local time (10:30), " +
  "a relative time (30s, 15m, 2h, 1d) or epoch milliseconds";

/**
 * Parses a user's timestamp into UTC milliseconds. Accepted: epoch milliseconds (digits only),
 * relative durations back from `now` (`30s`, `15m`, `2h`, `1d`), `HH:MM[:SS]` today in local time,
 * and ISO-8601 dates and date-times (a date-time without a zone is local time).
 */
export function parseTimestamp(input: string, now: number = Date.now()): number {
  const text = input.trim();
  if (/^\d+$/.test(text)) {
    const ms = Number(text);
    if (Number.isSafeInteger(ms)) return ms;
  }
  const rel = /^(\d+)\s*([smhd])$/i.exec(text);
  if (rel !== null) return now - Number(rel[1]) * (UNITS[(rel[2] as string).toLowerCase()] as number);
  const clock = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(text);
  if (clock !== null) {
    const [h, m, s] = [Number(clock[1]), Number(clock[2]), Number(clock[3] ?? 0)];
    if (h > 23 || m > 59 || s > 59) throw new TimestampError(`invalid time of day "${input}"; use HH:MM or HH:MM:SS`);
    const d = new Date(now);
    d.setHours(h, m, s, 0);
    return d.getTime();
  }
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i.test(text)) {
    const ms = Date.parse(text.replace(" ", "T"));
    if (!Number.isNaN(ms)) return ms;
  }
  throw new TimestampError(`invalid timestamp "${input}"; use ${TIMESTAMP_FORMS}`);
}
