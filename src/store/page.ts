import { Limits } from "../protocol/constants.js";

/** A page of history being filled: the messages' JSON, in the order they were read. */
export interface FilledPage {
  readonly rows: string[];
  /** Whether a message was left out: one more was read than fit (by count or by bytes). */
  readonly more: boolean;
}

/**
 * Takes message JSON texts from `rows`, in the order given, while the page has fewer than `limit`
 * and the JSON array would stay within `maxBytes` of UTF-8 (brackets and commas counted); the
 * first one is always taken, so a page is never empty while messages remain. Reads at most one
 * row beyond what it takes, and then stops the iterator (for SQLite: the statement is reset, no
 * further rows are built), so a page costs memory for its budget, not for `limit` rows.
 */
export function fillPage(rows: Iterable<string>, limit: number, maxBytes = Limits.historyBytes): FilledPage {
  const taken: string[] = [];
  let bytes = 1; // "[" and, at the end, "]" (one of them counted with each row's comma)
  for (const row of rows) {
    const size = Buffer.byteLength(row) + 1;
    if (taken.length >= limit || (taken.length > 0 && bytes + size > maxBytes)) return { rows: taken, more: true };
    taken.push(row);
    bytes += size;
  }
  return { rows: taken, more: false };
}
