/**
 * Numbers with their units at any scale, for the bench report and the CLI: a Jetson plan takes
 * 0.3 s, a 3B model on a laptop CPU takes minutes, and a fixed `toFixed(2)` turns one of them into
 * "0.00". Every formatter keeps about three significant digits and picks the unit that keeps the
 * number between 1 and 1000 where one exists.
 */

/** `value` with about `digits` significant digits, never in exponent notation. */
export function significant(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return '-';
  if (value === 0) return '0';
  // The magnitude after rounding: 0.9997 to 3 digits is 1.00, not 1.000.
  const magnitude = Math.floor(Math.log10(Math.abs(Number(value.toPrecision(digits)))));
  const decimals = Math.max(0, digits - 1 - magnitude);
  return value.toFixed(Math.min(decimals, 20));
}

/** A duration given in milliseconds: "850 µs", "12.3 ms", "1.25 s", "331 s", "18.5 min", "2.50 h". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  const abs = Math.abs(ms);
  if (abs === 0) return '0 ms';
  // Thresholds a half unit early, so that rounding never prints "1000 ms".
  if (abs < 0.9995) return `${significant(ms * 1000)} µs`;
  if (abs < 999.5) return `${significant(ms)} ms`;
  if (abs < 999.5 * 1000) return `${significant(ms / 1000)} s`;
  if (abs < 3600 * 1000 * 10) return `${significant(ms / 60_000)} min`;
  return `${significant(ms / 3_600_000)} h`;
}

/** A rate: "12.3 plans/s", "0.0030 plans/s" (two significant digits below 1, so a slow run never reads 0). */
export function formatRate(perSecond: number, unit: string): string {
  if (!Number.isFinite(perSecond)) return '-';
  if (perSecond === 0) return `0 ${unit}/s`;
  const digits = Math.abs(perSecond) < 1 ? 2 : 3;
  return `${significant(perSecond, digits)} ${unit}/s`;
}

/**
 * Plans per second, with the time per plan beside it when a plan takes over a second:
 * "25.0 plans/s", "0.0030 plans/s (331 s per plan)".
 */
export function formatThroughput(plansPerSecond: number): string {
  const rate = formatRate(plansPerSecond, 'plans');
  if (!(plansPerSecond > 0) || plansPerSecond >= 1 || !Number.isFinite(plansPerSecond)) return rate;
  return `${rate} (${formatDuration(1000 / plansPerSecond)} per plan)`;
}

/** Bytes in binary units: "512 B", "12.0 KiB", "500 MiB", "3.20 GiB". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let i = 0;
  while (Math.abs(value) >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return i === 0 ? `${value} B` : `${significant(value)} ${units[i]}`;
}
