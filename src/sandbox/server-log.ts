/** What a server log says about why the server stopped: its last exception and its last lines. */
export interface ServerLogCause {
  /** The last `SomeError: message` line (or uvicorn's `ERROR:` line), when there is one. */
  cause?: string;
  /** The last meaningful lines, oldest first. */
  tail: string[];
}

const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g;
const EXCEPTION = /^([A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*|ERROR:.*|.*\bNo module named\b.*)$/;
// Rich's boxes and the ASCII-art banner carry no cause.
const NOISE = /^[\s│┃║|─━═╭╮╰╯┏┓┗┛_\\/()`'.,-]*$/;

function meaningfulLines(text: string): string[] {
  return text
    .replace(ANSI, '')
    .split(/\r?\n/)
    .map((line) =>
      line
        .replace(/^[│┃║|]\s?/, '')
        .replace(/\s*[│┃║|]$/, '')
        .trimEnd(),
    )
    .filter((line) => line.trim() !== '' && !NOISE.test(line));
}

export function findServerLogCause(text: string, lines = 6): ServerLogCause {
  const kept = meaningfulLines(text);
  const cause = [...kept]
    .reverse()
    .map((line) => line.trim())
    .find((line) => EXCEPTION.test(line));
  return { ...(cause ? { cause } : {}), tail: kept.slice(-lines) };
}
