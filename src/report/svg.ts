import { escapeHtml } from './escape.js';
import type { TimelineModel } from './timeline.js';

const STATE_COLOURS: Record<string, string> = {
  SCHEDULED: '#9db4d0',
  AwaitingConcurrencySlot: '#f0a03c',
  PENDING: '#e8d45c',
  RUNNING: '#2f9e5a',
  COMPLETED: '#1f6f3f',
  FAILED: '#c9352b',
  CRASHED: '#8b1e17',
  CANCELLING: '#8a8a8a',
  CANCELLED: '#5c5c5c',
  PAUSED: '#7b68b5',
};
const OTHER_COLOUR = '#b0b0b0';
const LEGEND = [
  'SCHEDULED',
  'PENDING',
  'AwaitingConcurrencySlot',
  'RUNNING',
  'COMPLETED',
  'FAILED',
  'CRASHED',
  'CANCELLED',
];

const WIDTH = 1000;
const LABEL = 210;
const PLOT = WIDTH - LABEL - 20;
const AXIS = 34;
const ROW = 16;
const CHART = 110;
const FINAL_MARK = 4;
/** Past this many runs, runs share lanes (each a thin stripe of its lane) so the picture stays one screen tall. */
const MAX_LANES = 50;
/** Names an overflow label lists before it counts the rest. */
const OVERFLOW_NAMES = 4;
const TICK_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];

/** Fixed decimals keep the file byte-identical wherever it is rebuilt. */
const n = (value: number): string => (Math.round(value * 10) / 10).toFixed(1).replace(/\.0$/, '');

interface Layout {
  x: (at: number) => number;
  /** Runs per lane: 1 up to MAX_LANES runs, more past it. */
  perLane: number;
  rowsTop: number;
  chartTop: number;
  height: number;
  yCount: (count: number) => number;
}

function layOut(model: TimelineModel): Layout {
  const span = model.end - model.start;
  const rowsTop = AXIS;
  const perLane = Math.max(1, Math.ceil(model.rows.length / MAX_LANES));
  const chartTop = rowsTop + Math.ceil(model.rows.length / perLane) * ROW + 24;
  const top = Math.max(model.peak, model.slots?.peak ?? 0, ...model.limits.map((l) => l.value), 1) + 1;
  return {
    x: (at) => LABEL + ((at - model.start) / span) * PLOT,
    perLane,
    rowsTop,
    chartTop,
    height: chartTop + CHART + 46,
    yCount: (count) => chartTop + CHART - (count / top) * CHART,
  };
}

function drawAxis(model: TimelineModel, layout: Layout): string {
  const seconds = (model.end - model.start) / 1000;
  const step = TICK_STEPS.find((s) => seconds / s <= 10) ?? Math.ceil(seconds / 10);
  const ticks: string[] = [];
  for (let t = 0; t <= seconds; t += step) {
    const x = n(layout.x(model.start + t * 1000));
    ticks.push(
      `<line class="tick" x1="${x}" x2="${x}" y1="${AXIS - 6}" y2="${layout.chartTop + CHART}"/>` +
        `<text x="${x}" y="${AXIS - 10}" text-anchor="middle">+${t}s</text>`,
    );
  }
  const origin = new Date(model.start).toISOString();
  return `<g class="axis"><text x="4" y="${AXIS - 10}">from ${escapeHtml(origin)}</text>${ticks.join('')}</g>`;
}

/** A lane's label: the run's name, or for a shared lane the range of runs it holds. */
function laneLabel(model: TimelineModel, layout: Layout, i: number): string {
  const row = model.rows[i];
  if (!row) return '';
  if (layout.perLane === 1) return `${row.runName}${row.rehearsal ? '' : ' (other)'}`;
  const last = Math.min(i + layout.perLane, model.rows.length);
  return `runs ${i + 1}-${last} of ${model.rows.length}`;
}

function drawRows(model: TimelineModel, layout: Layout): string {
  const { perLane } = layout;
  const height = (ROW - 4) / perLane;
  return model.rows
    .map((row, i) => {
      const lane = Math.floor(i / perLane);
      const y = layout.rowsTop + lane * ROW + 2 + (i % perLane) * height;
      const segments = row.segments.map((s) => {
        const x = layout.x(s.from);
        const final = s.last && s.to === s.from;
        const width = final ? FINAL_MARK : Math.max(layout.x(s.to) - x, 0.5);
        const fill = STATE_COLOURS[s.kind] ?? OTHER_COLOUR;
        const tip = `${row.runName}: ${s.name} from ${new Date(s.from).toISOString()}`;
        return `<rect class="state" data-state="${escapeHtml(s.kind)}" x="${n(x)}" y="${n(y)}" width="${n(width)}" height="${n(height)}" fill="${fill}"><title>${escapeHtml(tip)}</title></rect>`;
      });
      const label =
        i % perLane === 0
          ? `<text x="4" y="${layout.rowsTop + lane * ROW + ROW - 4}">${escapeHtml(laneLabel(model, layout, i))}</text>`
          : '';
      return `<g class="run${row.rehearsal ? ' rehearsal' : ''}" data-run-id="${escapeHtml(row.runId)}">${label}${segments.join('')}</g>`;
    })
    .join('');
}

const shorten = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** A count as a step line from the chart's start to its end. */
function stepPath(model: TimelineModel, layout: Layout, steps: { at: number; count: number }[]): string {
  const base = layout.yCount(0);
  let d = `M${n(layout.x(model.start))},${n(base)}`;
  let count = 0;
  for (const step of steps) {
    d += ` H${n(layout.x(Math.min(Math.max(step.at, model.start), model.end)))} V${n(layout.yCount(step.count))}`;
    count = step.count;
  }
  return `${d} H${n(layout.x(model.end))}${count ? ` V${n(base)}` : ''}`;
}

function drawCounts(model: TimelineModel, layout: Layout): string {
  const base = layout.yCount(0);
  const d = stepPath(model, layout, model.running);
  const slots = model.slots
    ? `<path class="slots" d="${stepPath(model, layout, model.slots.steps)}"/>` +
      // Two short lines, so the label stays clear of the count scale whatever the key's name.
      `<text class="slots-label" x="4" y="${layout.chartTop + 28}"><tspan x="4">occupied slots of</tspan>` +
      `<tspan x="4" dy="13">${escapeHtml(shorten(model.slots.limit, 26))} (peak ${model.slots.peak})</tspan></text>`
    : '';
  const limits = model.limits.map((limit) => {
    const y = n(layout.yCount(limit.value));
    const label = `limit ${limit.value}: ${limit.labels.join(', ')}`;
    return `<g class="limit" data-limit="${limit.value}"><line x1="${LABEL}" x2="${LABEL + PLOT}" y1="${y}" y2="${y}"/><text x="${LABEL + PLOT}" y="${Number(y) - 3}" text-anchor="end">${escapeHtml(label)}</text></g>`;
  });
  const top = Math.max(model.peak, model.slots?.peak ?? 0, ...model.limits.map((l) => l.value), 1) + 1;
  const every = Math.ceil(top / 6);
  const scale: string[] = [];
  for (let count = 0; count <= top; count += every) {
    scale.push(`<text x="${LABEL - 6}" y="${n(layout.yCount(count) + 4)}" text-anchor="end">${count}</text>`);
  }
  return (
    `<g class="counts"><text x="4" y="${layout.chartTop + 12}">RUNNING runs (peak ${model.peak})</text>${scale.join('')}` +
    `<line class="base" x1="${LABEL}" x2="${LABEL + PLOT}" y1="${n(base)}" y2="${n(base)}"/>` +
    `<path class="running" d="${d}"/>${slots}${limits.join('')}</g>`
  );
}

function drawOverflows(model: TimelineModel, layout: Layout): string {
  return model.overflows
    .map((w, i) => {
      const x = layout.x(w.from);
      const width = Math.max(layout.x(w.to) - x, 1);
      const more = w.runNames.length - OVERFLOW_NAMES;
      const names = `${w.runNames.slice(0, OVERFLOW_NAMES).join(', ')}${more > 0 ? ` and ${more} more` : ''}`;
      const label = `above ${w.limit}: ${names}`;
      const y = layout.chartTop + CHART + 16 + (i % 2) * 12;
      return `<g class="overflow" data-limit="${w.limit}" data-runs="${escapeHtml(w.runIds.join(' '))}"><rect x="${n(x)}" y="${layout.rowsTop}" width="${n(width)}" height="${n(layout.chartTop + CHART - layout.rowsTop)}"><title>${escapeHtml(label)}</title></rect><text x="${n(x)}" y="${y}">${escapeHtml(label)}</text></g>`;
    })
    .join('');
}

/** Each injected fault as a vertical line across the runs and the counts, labelled with its kind and target. */
function drawFaults(model: TimelineModel, layout: Layout): string {
  return model.faults
    .map((fault, i) => {
      const x = n(layout.x(fault.at));
      const y = layout.rowsTop - 2 + (i % 2) * 11;
      const run = fault.runId ? ` data-run="${escapeHtml(fault.runId)}"` : '';
      return `<g class="fault"${run}><line x1="${x}" x2="${x}" y1="${layout.rowsTop}" y2="${n(layout.chartTop + CHART)}"/><text x="${x}" y="${y}" dx="3">${escapeHtml(`fault: ${fault.label}`)}</text><title>${escapeHtml(`fault ${fault.label} at ${new Date(fault.at).toISOString()}`)}</title></g>`;
    })
    .join('');
}

function drawLegend(layout: Layout): string {
  const y = layout.height - 8;
  let x = 4;
  const items = LEGEND.map((kind) => {
    const item = `<rect x="${x}" y="${y - 9}" width="10" height="10" fill="${STATE_COLOURS[kind]}"/><text x="${x + 14}" y="${y}">${kind}</text>`;
    x += 30 + kind.length * 7;
    return item;
  });
  return `<g class="legend">${items.join('')}</g>`;
}

const SVG_STYLE =
  'text{font:11px sans-serif;fill:#222}.tick{stroke:#e4e4e4}.base{stroke:#888}' +
  '.running{fill:none;stroke:#2f9e5a;stroke-width:2}.slots{fill:none;stroke:#6a4fc3;stroke-width:2;stroke-dasharray:2 2}' +
  '.slots-label{fill:#6a4fc3}.limit line{stroke:#c9352b;stroke-dasharray:6 3;stroke-width:1.5}' +
  '.limit text{fill:#c9352b}.overflow rect{fill:#c9352b;fill-opacity:.15;stroke:#c9352b;stroke-opacity:.5}' +
  '.overflow text{fill:#8b1e17;font-weight:bold}.fault line{stroke:#d9480f;stroke-width:2;stroke-dasharray:3 2}' +
  '.fault text{fill:#d9480f;font-weight:bold}';

/** The timeline as one standalone SVG document: runs by state, the RUNNING count, limits, overflows, faults. */
export function renderTimelineSvg(model: TimelineModel): string {
  const layout = layOut(model);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="${WIDTH}" height="${n(layout.height)}" viewBox="0 0 ${WIDTH} ${n(layout.height)}" role="img" aria-label="concurrency timeline">` +
    `<style>${SVG_STYLE}</style><rect width="100%" height="100%" fill="#fff"/>` +
    drawAxis(model, layout) +
    drawOverflows(model, layout) +
    drawRows(model, layout) +
    drawCounts(model, layout) +
    drawFaults(model, layout) +
    drawLegend(layout) +
    '</svg>\n'
  );
}
