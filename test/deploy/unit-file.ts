/**
 * Reads a systemd unit file the way systemd does for the parts the tests look at: sections, repeated
 * keys kept in order, backslash-continued lines joined, comments (# ;) dropped.
 */
export type UnitFile = Map<string, [string, string][]>;

export function parseUnitFile(text: string): UnitFile {
  const unit: UnitFile = new Map();
  let section: [string, string][] | undefined;
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    let line = lines[n]!.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    while (line.endsWith('\\') && n + 1 < lines.length) line = line.slice(0, -1) + ' ' + lines[++n]!.trim();
    const head = /^\[([A-Za-z]+)\]$/.exec(line);
    if (head) {
      section = [];
      unit.set(head[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (!section || eq < 1) throw new SyntaxError(`line ${n + 1}: expected [Section] or Key=value, got '${line}'`);
    section.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return unit;
}

/** Every value of `key` in `section`, in order (systemd list settings accumulate; an empty one resets). */
export function values(unit: UnitFile, section: string, key: string): string[] {
  return (unit.get(section) ?? []).filter(([k]) => k === key).map(([, v]) => v);
}

/** The value systemd ends up with for a single-valued key: the last one. */
export function value(unit: UnitFile, section: string, key: string): string | undefined {
  return values(unit, section, key).at(-1);
}
