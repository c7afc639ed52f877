// A strict parser of the two text formats, for the tests: every line must match the
// grammar, or it throws naming the line. Returns families with their samples.
// With `{ utf8Names: true }` it also reads names quoted as Prometheus 3 writes them
// (`# TYPE "a.b" counter`, `{"a.b","c.d"="x"} 1`, `a{"c.d"="x"} 1`), and refuses a quoted
// name that would have been valid bare: the writer quotes exactly the names that need it.

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
  exemplar?: { labels: Record<string, string>; value: number; timestamp?: number };
}
export interface ParsedFamily {
  name: string;
  type: string;
  help?: string;
  unit?: string;
  samples: ParsedSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;

/** Options of `parseExposition`. */
export interface ParseOptions {
  /** Read quoted metric and label names (the text formats since Prometheus 3). */
  utf8Names?: boolean;
}

/** Reads the quoted string at `line[at]` (which is `"`); returns it unescaped and the index after it. */
function readQuoted(line: string, at: number, what: string, legacy: RegExp): [string, number] {
  let raw = "";
  at++;
  while (line[at] !== '"') {
    if (at >= line.length) throw new Error(`unterminated quoted ${what} in ${JSON.stringify(line)}`);
    if (line[at] === "\\") raw += line[at++];
    raw += line[at++];
  }
  const name = unescape(raw, false, false);
  if (name === "") throw new Error(`empty quoted ${what} in ${JSON.stringify(line)}`);
  const whole = new RegExp(legacy.source + "$");
  if (whole.test(name)) throw new Error(`needlessly quoted ${what} ${JSON.stringify(name)} in ${JSON.stringify(line)}`);
  return [name, at + 1];
}

/** Reads a label name, bare or (with `utf8`) quoted; returns it and the index after it. */
function readLabelName(line: string, at: number, utf8: boolean): [string, number] {
  if (utf8 && line[at] === '"') return readQuoted(line, at, "label name", LABEL);
  const m = LABEL.exec(line.slice(at));
  if (!m) throw new Error(`bad label name at ${at} in ${JSON.stringify(line)}`);
  return [m[0], at + m[0].length];
}

function unescape(text: string, om: boolean, help: boolean): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== "\\") {
      out += c;
      continue;
    }
    const n = text[++i];
    if (n === "\\") out += "\\";
    else if (n === "n") out += "\n";
    else if (n === '"' && (om || !help)) out += '"';
    else throw new Error(`bad escape \\${n} in ${JSON.stringify(text)}`);
  }
  return out;
}

function parseValue(text: string): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad value ${JSON.stringify(text)}`);
  return Number(text);
}

/**
 * Parses `{a="x",b="y"}` at `line[at]`, returns labels and the index after `}`. With `inside`,
 * the opening brace and the quoted metric name were read already (`{"a.b",` or `{"a.b"}`).
 */
function parseLabels(
  line: string,
  at: number,
  om: boolean,
  utf8 = false,
  inside = false,
): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  if (!inside) {
    if (line[at] !== "{") return [labels, at];
    at++;
  }
  while (line[at] !== "}") {
    const [name, after] = readLabelName(line, at, utf8);
    at = after;
    if (line[at] !== "=" || line[at + 1] !== '"') throw new Error(`expected =" at ${at} in ${JSON.stringify(line)}`);
    at += 2;
    let raw = "";
    while (line[at] !== '"') {
      if (at >= line.length) throw new Error(`unterminated label value in ${JSON.stringify(line)}`);
      if (line[at] === "\\") raw += line[at++];
      raw += line[at++];
    }
    at++;
    if (Object.hasOwn(labels, name)) throw new Error(`repeated label ${name}`);
    labels[name] = unescape(raw, om, false);
    if (line[at] === ",") at++;
    else if (line[at] !== "}") throw new Error(`expected , or } at ${at} in ${JSON.stringify(line)}`);
  }
  return [labels, at + 1];
}

const SUFFIXES = ["_total", "_bucket", "_count", "_sum", "_created", ""];

/** Parses exposition text strictly. `om` for OpenMetrics (requires `# EOF`). */
export function parseExposition(text: string, om: boolean, options: ParseOptions = {}): Map<string, ParsedFamily> {
  const utf8 = options.utf8Names === true;
  const families = new Map<string, ParsedFamily>();
  if (om) {
    if (!text.endsWith("# EOF\n")) throw new Error("OpenMetrics text must end with # EOF");
    text = text.slice(0, -"# EOF\n".length);
  }
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  let current: ParsedFamily | undefined;
  const family = (name: string): ParsedFamily => {
    let f = families.get(name);
    if (!f) families.set(name, f = { name, type: "untyped", samples: [] });
    current = f;
    return f;
  };
  for (const line of lines) {
    if (line.startsWith("# ")) {
      // [^]* rather than .*: HELP text may hold \r or U+2028, which `.` does not match.
      const m = /^# (HELP|TYPE|UNIT) ([a-zA-Z_:][a-zA-Z0-9_:]*)(?: ([^]*))?$/.exec(line);
      let comment: [string, string, string | undefined] | undefined = m ? [m[1]!, m[2]!, m[3]] : undefined;
      if (!m && utf8 && /^# (HELP|TYPE|UNIT) "/.test(line)) {
        const [quoted, after] = readQuoted(line, 7, "metric name", NAME);
        const rest = /^(?: ([^]*))?$/.exec(line.slice(after));
        if (rest) comment = [line.slice(2, 6), quoted, rest[1]];
      }
      if (!comment) throw new Error(`bad comment line ${JSON.stringify(line)}`);
      const [kind, familyName, text] = comment;
      const f = family(familyName);
      if (kind === "HELP") f.help = unescape(text ?? "", om, true);
      else if (kind === "TYPE") {
        if (!/^(counter|gauge|histogram|summary|untyped|unknown)$/.test(text ?? "")) {
          throw new Error(`bad type in ${line}`);
        }
        if (f.samples.length) throw new Error(`TYPE after samples for ${f.name}`);
        f.type = text!;
      } else if (om) f.unit = text ?? "";
      else throw new Error("UNIT in 0.0.4 text");
      continue;
    }
    let name: string;
    let labels: Record<string, string>;
    let after: number;
    if (utf8 && line.startsWith('{"')) {
      // The quoted metric name inside the braces, then its labels.
      const [quoted, end] = readQuoted(line, 1, "metric name", NAME);
      name = quoted;
      if (line[end] !== "," && line[end] !== "}") {
        throw new Error(`expected , or } at ${end} in ${JSON.stringify(line)}`);
      }
      [labels, after] = parseLabels(line, line[end] === "," ? end + 1 : end, om, utf8, true);
    } else {
      const m = NAME.exec(line);
      if (!m) throw new Error(`bad sample line ${JSON.stringify(line)}`);
      name = m[0];
      [labels, after] = parseLabels(line, name.length, om, utf8);
    }
    const rest = line.slice(after);
    const vm = /^ (\S+)(?: (# \{[^]*))?$/.exec(rest);
    if (!vm) throw new Error(`bad value part ${JSON.stringify(rest)} in ${JSON.stringify(line)}`);
    const sample: ParsedSample = { name, labels, value: parseValue(vm[1]!) };
    if (vm[2] !== undefined) {
      if (!om) throw new Error("exemplar in 0.0.4 text");
      const [exLabels, exAfter] = parseLabels(vm[2], 2, om);
      const parts = vm[2].slice(exAfter).trim().split(" ");
      sample.exemplar = { labels: exLabels, value: parseValue(parts[0]!) };
      if (parts[1] !== undefined) sample.exemplar.timestamp = parseValue(parts[1]);
    }
    // The family a sample belongs to: the current one if the name is one of its sample names.
    const owner = current && SUFFIXES.some((s) => current!.name + s === name) ? current : undefined;
    if (!owner) throw new Error(`sample ${name} outside its family in ${JSON.stringify(line)}`);
    owner.samples.push(sample);
  }
  return families;
}
