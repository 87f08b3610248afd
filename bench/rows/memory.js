// @ts-check
import { addRow, mb, raw, x } from '../lib/table.js';

/**
 * @param {import('../lib/sandbox.js').Shared['backfill']} backfill
 * @param {import('../lib/sandbox.js').Shared['validate']} validate
 */
function memoryRows(backfill, validate) {
  const only = 'node process only; Python children excluded';
  if (backfill?.maxRssKB)
    addRow({
      row: '5 peak RSS, rehearse backfill',
      figure: `${mb(backfill.maxRssKB)} (${only})`,
      goal: '—',
      met: null,
      verdict: '—',
    });
  if (validate?.validate100KB && validate?.validate1000KB) {
    addRow({
      row: '5 peak RSS, validate 100 runs',
      figure: `${mb(validate.validate100KB)} (${only})`,
      goal: '—',
      met: null,
      verdict: '—',
    });
    addRow({
      row: '5 peak RSS, validate 1,000 runs',
      figure: `${mb(validate.validate1000KB)}, ${x(validate.validate1000KB / validate.validate100KB)} the 100-run RSS (${only})`,
      goal: '—',
      met: null,
      verdict: '—',
    });
  }
  raw.memory = {
    backfillMaxRssKB: backfill?.maxRssKB ?? null,
    validate100MaxRssKB: validate?.validate100KB ?? null,
    validate1000MaxRssKB: validate?.validate1000KB ?? null,
  };
}

/** @type {import('../lib/sandbox.js').BenchRow} */
export default {
  id: 5,
  title: '5 memory',
  /** It times nothing (it reads figures), so the machine's load at its start is not noted. */
  untimed: true,
  needs: 'sqlite',
  uses: [2, 4],
  afterSandbox: true,
  run: (ctx) => memoryRows(ctx.shared.backfill, ctx.shared.validate),
};
