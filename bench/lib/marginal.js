// @ts-check
/**
 * Marginal cost per added unit between consecutive sizes, and the last step's over the first's: with a fixed
 * cost per command (render, inspect, the screenshot), "cost / unit" falls as the size grows and would hide
 * growth; the cost of each added unit does not.
 * @param {number[]} sizes ascending
 * @param {(size: number) => number} total the figure at a size
 */
export function marginal(sizes, total) {
  const steps = sizes.slice(1).map((size, i) => {
    const from = sizes[i] ?? 0;
    return { from, to: size, perUnit: (total(size) - total(from)) / (size - from) };
  });
  const first = steps[0]?.perUnit ?? Number.NaN;
  const last = steps.at(-1)?.perUnit ?? Number.NaN;
  return { steps, ratio: first > 0 ? last / first : last <= 0 ? 1 : Number.POSITIVE_INFINITY };
}

/** The largest size's figure over the smallest's. @param {number[]} sizes @param {(size: number) => number} f */
export function growth(sizes, f) {
  const first = f(sizes[0] ?? 0);
  const last = f(sizes.at(-1) ?? 0);
  return first > 0 ? last / first : last <= 0 ? 1 : Number.POSITIVE_INFINITY;
}
