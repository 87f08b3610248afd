// @ts-check
/**
 * Marginal cost per added unit between consecutive sizes, and the last step's over the whole curve's: with a fixed
 * cost per command (render, inspect, the screenshot), "cost / unit" falls as the size grows and would hide growth;
 * the cost of each added unit does not. The last step (the most units added) is judged against the average added
 * unit from the smallest size to the largest rather than against the first step alone: a short first step (3 to 12
 * runs) adds less than its noise, and a near-zero or negative first step made the ratio unbounded. A cost that
 * grows faster than the units shows as a last step above the average.
 * @param {number[]} sizes ascending
 * @param {(size: number) => number} total the figure at a size
 */
export function marginal(sizes, total) {
  const steps = sizes.slice(1).map((size, i) => {
    const from = sizes[i] ?? 0;
    return { from, to: size, perUnit: (total(size) - total(from)) / (size - from) };
  });
  const smallest = sizes[0] ?? 0;
  const largest = sizes.at(-1) ?? 0;
  const average = largest > smallest ? (total(largest) - total(smallest)) / (largest - smallest) : Number.NaN;
  const last = steps.at(-1)?.perUnit ?? Number.NaN;
  return { steps, average, ratio: average > 0 ? last / average : last <= 0 ? 1 : Number.POSITIVE_INFINITY };
}

/** The largest size's figure over the smallest's. @param {number[]} sizes @param {(size: number) => number} f */
export function growth(sizes, f) {
  const first = f(sizes[0] ?? 0);
  const last = f(sizes.at(-1) ?? 0);
  return first > 0 ? last / first : last <= 0 ? 1 : Number.POSITIVE_INFINITY;
}
