/** Text for HTML content and attribute values: nothing from the evidence can open a tag or end an attribute. */
export function escapeHtml(value: unknown): string {
  return String(value)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** Inline Markdown of an already escaped line: `code` and **bold** only; links stay text. */
function renderInline(escaped: string): string {
  return escaped.replace(/`([^`]+)`/g, '<code>$1</code>').replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>');
}

const cellsOf = (line: string): string[] =>
  line
    .trim()
    .replace(/^\||\|$/g, '')
    .split('|')
    .map((cell) => cell.trim());

function renderTable(lines: string[]): string {
  const [head = '', , ...body] = lines;
  const row = (cells: string[], tag: string): string =>
    `<tr>${cells.map((c) => `<${tag}>${renderInline(escapeHtml(c))}</${tag}>`).join('')}</tr>`;
  return `<table>${row(cellsOf(head), 'th')}${body.map((line) => row(cellsOf(line), 'td')).join('')}</table>`;
}

/**
 * notes.md as HTML: headings, paragraphs and tables; every character of the text is escaped first, so
 * an operator's note (or anything a step quoted into it) shows as text and never becomes markup.
 */
export function renderNotesMarkdown(markdown: string): string {
  const out: string[] = [];
  let block: string[] = [];
  let blockIsTable = false;
  const flush = (): void => {
    if (block.length === 0) return;
    out.push(
      blockIsTable ? renderTable(block) : `<p>${block.map((l) => renderInline(escapeHtml(l))).join('<br>')}</p>`,
    );
    block = [];
  };
  for (const line of markdown.replace(/<!-- \/?rehearse:[a-z-]+ -->/g, '').split('\n')) {
    const heading = /^(#{1,4})\s+(.*)$/.exec(line);
    const isTable = line.trimStart().startsWith('|');
    if (line.trim() === '' || heading || isTable !== blockIsTable) flush();
    if (heading) {
      const level = Math.min((heading[1] ?? '').length + 2, 6);
      out.push(`<h${level}>${renderInline(escapeHtml(heading[2]))}</h${level}>`);
    } else if (line.trim() !== '') {
      blockIsTable = isTable;
      block.push(line);
    }
  }
  flush();
  return out.join('\n');
}
