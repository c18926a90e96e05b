/**
 * Just enough PromQL reading to check alert rules and dashboard queries against the metrics the code
 * registers: which metric names an expression selects, with which label matchers. Function and
 * aggregation names (followed by "("), keywords, numbers, durations and grouping label lists are
 * not metric names. Not a parser: it accepts some invalid PromQL, but it never misses a selector.
 */

export interface Matcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

export interface Selector {
  name: string;
  matchers: Matcher[];
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan']);

/** Replaces string literals by "<index>" so that nothing inside a string looks like a name or a bracket. */
function stashStrings(expr: string): { text: string; strings: string[] } {
  const strings: string[] = [];
  const text = expr.replace(/"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|`([^`]*)`/g, (_m, a?: string, b?: string, c?: string) => {
    strings.push(a ?? b ?? c ?? '');
    return `"${strings.length - 1}"`;
  });
  return { text, strings };
}

/** Throws when (), {} or [] do not pair up, outside string literals. */
export function checkBrackets(expr: string): void {
  const { text } = stashStrings(expr);
  const open: string[] = [];
  const pairs: Record<string, string> = { ')': '(', '}': '{', ']': '[' };
  for (const ch of text) {
    if (ch === '(' || ch === '{' || ch === '[') open.push(ch);
    else if (ch in pairs) {
      if (open.pop() !== pairs[ch]) throw new SyntaxError(`unbalanced '${ch}' in: ${expr}`);
    }
  }
  if (open.length) throw new SyntaxError(`unclosed '${open.at(-1)}' in: ${expr}`);
}

export function selectors(expr: string): Selector[] {
  checkBrackets(expr);
  const { strings } = stashStrings(expr);
  let s = stashStrings(expr).text;
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  s = s.replace(/\[[^\]]*\]/g, ' ');
  s = s.replace(/\boffset\s+-?(\d+(ms|[smhdwy]))+/g, ' ');
  s = s.replace(/(?<![A-Za-z0-9_:"])\d+(\.\d+)?([eE][+-]?\d+)?/g, ' ');
  const out: Selector[] = [];
  let i = 0;
  while (i < s.length) {
    const rest = s.slice(i);
    const ident = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(rest);
    if (!ident && rest[0] !== '{') {
      i += rest[0] === '"' ? (/^"\d+"/.exec(rest)?.[0].length ?? 1) : 1;
      continue;
    }
    const name = ident?.[0] ?? '';
    let j = i + name.length;
    while (s[j] === ' ' || s[j] === '\n' || s[j] === '\t') j++;
    if (name && (s[j] === '(' || KEYWORDS.has(name.toLowerCase()))) {
      i += name.length;
      continue;
    }
    const matchers: Matcher[] = [];
    if (s[j] === '{') {
      const end = s.indexOf('}', j);
      for (const part of s.slice(j + 1, end).split(',').map((p) => p.trim()).filter(Boolean)) {
        const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"(\d+)"$/.exec(part);
        if (!m) throw new SyntaxError(`cannot read label matcher '${part}' in: ${expr}`);
        matchers.push({ label: m[1]!, op: m[2] as Matcher['op'], value: strings[Number(m[3])]! });
      }
      j = end + 1;
    }
    const byName = matchers.find((m) => m.label === '__name__' && m.op === '=');
    out.push({ name: name || byName?.value || '', matchers });
    i = j;
  }
  return out;
}
