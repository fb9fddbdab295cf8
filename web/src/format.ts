// How the page shows sizes and times.

const UNITS = ["bytes", "KiB", "MiB", "GiB", "TiB"] as const;

/** `1536` → `1.5 KiB`. */
export function size(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

/** An RFC 3339 time in the reader's locale, or the text itself if it does not parse. */
export function time(rfc3339: string): string {
  const date = new Date(rfc3339);
  return Number.isNaN(date.getTime())
    ? rfc3339
    : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}
