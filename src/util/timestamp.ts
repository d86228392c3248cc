import { TimestampError } from "../protocol/errors.js";

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export const TIMESTAMP_FORMS =
  "ISO-8601 (2026-11-25T10:30:00Z), HH:MM[:SS] today in local time (10:30), " +
  "a relative time (30s, 15m, 2h, 1d) or epoch milliseconds";

/**
 * Parses a user's timestamp into UTC milliseconds. Accepted: epoch milliseconds (digits only),
 * relative durations back from `now` (`30s`, `15m`, `2h`, `1d`), `HH:MM[:SS]` today in local time,
 * and ISO-8601 dates and date-times (a date, or a date-time without a zone, is local time).
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
  const iso = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i.exec(
    text,
  );
  if (iso !== null) {
    const [y, mo, d, h = 0, mi = 0, s = 0] = iso.slice(1, 7).map((v) => (v === undefined ? undefined : Number(v)));
    // Date.parse rolls 2026-02-30 over into March: check every field is in range first.
    const days = new Date(Date.UTC(y as number, mo as number, 0)).getUTCDate();
    if (
      (mo as number) < 1 ||
      (mo as number) > 12 ||
      (d as number) < 1 ||
      (d as number) > days ||
      h > 23 ||
      mi > 59 ||
      s > 59
    ) {
      throw new TimestampError(`invalid timestamp "${input}": no such date or time; use ${TIMESTAMP_FORMS}`);
    }
    // A date alone means local midnight, like a date-time without a zone.
    const ms = Date.parse(iso[4] === undefined ? `${text}T00:00` : text.replace(" ", "T"));
    if (!Number.isNaN(ms)) return ms;
  }
  throw new TimestampError(`invalid timestamp "${input}"; use ${TIMESTAMP_FORMS}`);
}
