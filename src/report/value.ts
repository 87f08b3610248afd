/** Expected and measured values in a few words: what a reader needs at a glance, the whole value on demand. */
import { escapeHtml } from './escape.js';

const SHORT = 60;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** An ISO time as its clock time (the date is the bundle's, shown elsewhere). */
const clock = (value: unknown): string =>
  typeof value === 'string' ? (/T(\d\d:\d\d:\d\d(?:\.\d{1,3})?)/.exec(value)?.[1] ?? value) : String(value);

/** A list of windows ({start, end, runIds}) as how many, when, and how many runs at most. */
function windowsLine(items: readonly Record<string, unknown>[]): string {
  const most = Math.max(...items.map((w) => (Array.isArray(w.runIds) ? w.runIds.length : 0)));
  const runs = most > 0 ? `, up to ${most} runs` : '';
  return `${items.length} window(s) ${clock(items[0]?.start)}..${clock(items.at(-1)?.end)}${runs}`;
}

function listLine(items: readonly unknown[]): string {
  if (items.length > 0 && items.every((w) => isRecord(w) && 'start' in w && 'end' in w))
    return windowsLine(items as Record<string, unknown>[]);
  const json = JSON.stringify(items);
  if (json.length <= SHORT) return json;
  const first = items[0];
  const head = typeof first === 'string' ? first : JSON.stringify(first);
  return `${items.length} items: ${head.length > 30 ? `${head.slice(0, 29)}…` : head}, …`;
}

/** The value in a line of at most about 2 x SHORT characters: an object as `key: value` pairs, else its JSON when it fits. */
export function shortValue(value: unknown): string {
  if (value === undefined) return '';
  const json = JSON.stringify(value);
  if (isRecord(value) && Object.keys(value).length > 0) {
    const line = Object.entries(value)
      .map(
        ([key, inner]) =>
          `${key}: ${Array.isArray(inner) ? listLine(inner) : isRecord(inner) ? `{${shortValue(inner)}}` : shortValue(inner)}`,
      )
      .join(', ');
    return line.length > 2 * SHORT ? `${line.slice(0, 2 * SHORT - 1)}…` : line;
  }
  if (json.length <= SHORT) return json;
  if (Array.isArray(value)) return listLine(value);
  return typeof value === 'string' ? `${value.slice(0, SHORT - 1)}…` : json;
}

/** A table cell's HTML: the short form, and the whole value folded under it when it is long. */
export function renderValue(value: unknown): string {
  if (value === undefined) return '';
  const json = JSON.stringify(value);
  const short = shortValue(value);
  const shown = short === json ? `<code>${escapeHtml(json)}</code>` : `<span class="short">${escapeHtml(short)}</span>`;
  if (json.length <= SHORT) return shown;
  return `${shown}<details class="full"><summary>full value</summary><pre>${escapeHtml(JSON.stringify(value, null, 2))}</pre></details>`;
}
