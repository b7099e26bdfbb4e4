/** Whole percent of `quota` that `used` is (floor); a zero quota is full as soon as anything is stored. */
export function percentOf(used: number, quota: number): number {
  if (quota <= 0) return used > 0 ? 100 : 0;
  return Math.floor((used * 100) / quota);
}

/**
 * The highest of `thresholds` (percent, ascending) that `used` has reached, or 0.
 * @example levelOf(85, 100, [80, 95, 100]) // 80
 */
export function levelOf(used: number, quota: number, thresholds: readonly number[]): number {
  if (used <= 0) return 0;
  let level = 0;
  // compared in integers: used/quota >= t/100
  for (const t of thresholds) if (used * 100 >= t * quota) level = t;
  return level;
}

/**
 * A size in bytes from the command line or config: a whole number, optionally with a binary
 * suffix (KiB, MiB, GiB; K, M, G mean the same). Null when it is not one.
 * @example parseBytes('100MiB') // 104857600
 */
export function parseBytes(text: string): number | null {
  const m = /^\s*(\d+)\s*([KMG])?(?:i?B)?\s*$/i.exec(text);
  if (m === null) return null;
  const n = Number(m[1]) * 1024 ** (m[2] === undefined ? 0 : 'KMG'.indexOf(m[2].toUpperCase()) + 1);
  return Number.isSafeInteger(n) ? n : null;
}
