import { describe, expect, it } from 'vitest';
import { runOverrides } from '../../../src/cli/options.js';
import { parseJsonOrString } from '../../../src/cli/reporter.js';
import { detectCi } from '../../../src/cli/terminal.js';

describe('detectCi', () => {
  it('is on with --ci or a CI variable that is not false or 0', () => {
    expect(detectCi({ ci: true }, {})).toBe(true);
    expect(detectCi({}, { CI: 'true' })).toBe(true);
    expect(detectCi({}, { CI: '1' })).toBe(true);
    expect(detectCi({}, { CI: 'false' })).toBe(false);
    expect(detectCi({}, { CI: '0' })).toBe(false);
    expect(detectCi({}, {})).toBe(false);
  });
});

describe('runOverrides', () => {
  it('turns run flags into config overrides, parameters read as JSON when they parse', () => {
    expect(runOverrides({ since: '2024-01-01', burst: '3', watchTimeout: '60', param: ['n=2', 'name=x'] })).toEqual({
      run: { since: '2024-01-01', until: undefined, workQueue: undefined, burst: 3, parameters: { n: 2, name: 'x' } },
      timeouts: { watchSeconds: 60 },
    });
  });

  it('refuses a burst that is not a whole number of at least 1, and a pair without a key', () => {
    expect(() => runOverrides({ burst: '0' })).toThrow(/--burst expects a whole number/);
    expect(() => runOverrides({ watchTimeout: '1.5' })).toThrow(/--watch-timeout expects a whole number/);
    expect(() => runOverrides({ param: ['=1'] })).toThrow(/--param expects key=value/);
  });
});

describe('parseJsonOrString', () => {
  it('keeps a value that is not JSON as typed', () => {
    expect(parseJsonOrString('{"a":1}')).toEqual({ a: 1 });
    expect(parseJsonOrString('plain')).toBe('plain');
  });
});
