import { describe, expect, it } from 'vitest';
import { findServerLogCause } from '../../../src/sandbox/server-log.js';

const missingModule = [
  '',
  ' ___ ___ ___ ___ ___ ___ _____ ',
  '| _ \\ _ \\ __| __| __/ __|_   _| ',
  '|  _/   / _|| _|| _| (__  | |  ',
  '|_| |_|_\\___|_| |___\\___| |_|  ',
  '',
  'Traceback (most recent call last):',
  '  File "/p/.venv/lib/python3.13/site-packages/prefect/server/api/server.py", line 12, in <module>',
  '    import importlib_metadata',
  "ModuleNotFoundError: No module named 'importlib_metadata'",
  '',
].join('\n');

describe('findServerLogCause', () => {
  it('quotes the exception that ended a server that died at start, without the banner', () => {
    const found = findServerLogCause(missingModule);
    expect(found.cause).toBe("ModuleNotFoundError: No module named 'importlib_metadata'");
    expect(found.tail.at(-1)).toBe("ModuleNotFoundError: No module named 'importlib_metadata'");
    expect(found.tail.join('\n')).not.toContain('|_|');
  });

  it("quotes uvicorn's error line when the port is taken", () => {
    const log =
      'INFO:     Started server process [42]\nERROR:    [Errno 98] error while attempting to bind on address ' +
      "('127.0.0.1', 4200): address already in use\nINFO:     Waiting for application shutdown.\n";
    expect(findServerLogCause(log).cause).toMatch(/^ERROR: +\[Errno 98\].*address already in use$/);
  });

  it('keeps the last exception when several were logged, and strips colour codes', () => {
    const log = 'ValueError: first\n\u001b[31mRuntimeError: the last one\u001b[0m\n  during shutdown\n';
    const found = findServerLogCause(log);
    expect(found.cause).toBe('RuntimeError: the last one');
    expect(found.tail).toEqual(['ValueError: first', 'RuntimeError: the last one', '  during shutdown']);
  });

  it('gives only the tail when no line names a cause, and nothing for an empty log', () => {
    expect(findServerLogCause('starting\nstill starting\n')).toEqual({ tail: ['starting', 'still starting'] });
    expect(findServerLogCause('')).toEqual({ tail: [] });
  });
});
