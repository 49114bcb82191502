// A strict parser for the small YAML subset our generated and committed YAML uses (cloudflared's
// config.yml, docker-compose.yml): block mappings and sequences indented with spaces, plain,
// single- and double-quoted scalars, one-line flow sequences of scalars, `#` comments. Anything
// else (tabs, anchors, tags, block scalars, flow mappings, duplicate keys, multi-line scalars)
// throws, so a test parsing with it fails rather than reading something YAML would not.

/** Parses `text`; throws Error("yaml line N: …") on anything outside the subset. */
export function parseYamlSubset(text) {
  const lines = [];
  text.split("\n").forEach((raw, i) => {
    if (raw.includes("\t")) throw new Error(`yaml line ${i + 1}: tab`);
    const body = stripComment(raw, i + 1).trimEnd();
    if (body.trim() === "") return;
    if (body.trim() === "---" || body.trim() === "...") throw new Error(`yaml line ${i + 1}: document markers`);
    lines.push({ n: i + 1, indent: body.length - body.trimStart().length, text: body.trimStart() });
  });
  let pos = 0;
  const fail = (line, what) => {
    throw new Error(`yaml line ${line.n}: ${what}`);
  };

  function block(indent) {
    const first = lines[pos];
    if (first.indent !== indent) fail(first, `expected indent ${indent}, found ${first.indent}`);
    return isDash(first.text) ? sequence(indent) : mapping(indent, null);
  }

  function sequence(indent) {
    const out = [];
    while (pos < lines.length && lines[pos].indent === indent && isDash(lines[pos].text)) {
      const line = lines[pos];
      const rest = line.text === "-" ? "" : line.text.slice(2);
      if (rest.trimStart() !== rest) fail(line, "more than one space after '-'");
      if (rest === "") {
        pos += 1;
        out.push(nested(line, indent));
      } else if (keyValue(rest)) {
        // "- key: value" opens a mapping whose keys sit two columns in.
        out.push(mapping(indent + 2, { n: line.n, text: rest }));
      } else {
        pos += 1;
        out.push(scalar(rest, line));
      }
    }
    if (pos < lines.length && lines[pos].indent > indent) fail(lines[pos], "unexpected indent");
    return out;
  }

  function mapping(indent, firstEntry) {
    const out = {};
    let entry = firstEntry;
    if (entry) pos += 1;
    for (;;) {
      if (!entry) {
        if (pos >= lines.length || lines[pos].indent !== indent || isDash(lines[pos].text)) break;
        entry = lines[pos];
        pos += 1;
      }
      const kv = keyValue(entry.text);
      if (!kv) fail(entry, "expected 'key: value'");
      if (Object.hasOwn(out, kv.key)) fail(entry, `duplicate key ${kv.key}`);
      out[kv.key] = kv.value === "" ? nested(entry, indent, true) : scalar(kv.value, entry);
      entry = null;
    }
    if (pos < lines.length && lines[pos].indent > indent) fail(lines[pos], "unexpected indent");
    return out;
  }

  // The value of "key:" or "-" on a line of its own: a deeper block, a sequence at the same
  // indent (allowed after a key), or null.
  function nested(line, indent, afterKey = false) {
    const next = lines[pos];
    if (next && next.indent > indent) return block(next.indent);
    if (afterKey && next && next.indent === indent && isDash(next.text)) return sequence(indent);
    return null;
  }

  const result = lines.length ? block(lines[0].indent) : null;
  if (pos < lines.length) fail(lines[pos], "unexpected content");
  return result;
}

const isDash = (text) => text === "-" || text.startsWith("- ");

function keyValue(text) {
  const m = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[A-Za-z0-9_][A-Za-z0-9_.\-/]*):(?: (.*))?$/.exec(text);
  if (!m) return null;
  const key = m[1].startsWith('"') || m[1].startsWith("'") ? quoted(m[1]) : m[1];
  return { key, value: (m[2] ?? "").trim() };
}

function stripComment(raw, n) {
  let quote = null;
  for (let i = 0; i < raw.length; i += 1) {
    const c = raw[i];
    if (quote === '"' && c === "\\") i += 1;
    else if (quote && c === quote) quote = null;
    else if (!quote && (c === '"' || c === "'") && (i === 0 || /[\s:[,-]/.test(raw[i - 1]))) quote = c;
    else if (!quote && c === "#" && (i === 0 || /\s/.test(raw[i - 1]))) return raw.slice(0, i);
  }
  if (quote) throw new Error(`yaml line ${n}: unterminated quote`);
  return raw;
}

function quoted(token) {
  if (token.startsWith('"')) return JSON.parse(token);
  return token.slice(1, -1).replaceAll("''", "'");
}

function scalar(text, line) {
  if (/^(?:"(?:[^"\\]|\\.)*"|'(?:[^']|'')*')$/.test(text)) return quoted(text);
  if (text.startsWith("[")) {
    if (!text.endsWith("]")) throw new Error(`yaml line ${line.n}: multi-line flow sequence`);
    const items = [];
    const token = /\s*("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^,"'[\]{}]*[^,"'[\]{}\s])\s*(,|$)/y;
    const inner = text.slice(1, -1);
    if (inner.trim() === "") return [];
    token.lastIndex = 0;
    while (token.lastIndex < inner.length) {
      const m = token.exec(inner);
      if (!m) throw new Error(`yaml line ${line.n}: malformed flow sequence`);
      items.push(scalar(m[1], line));
      if (m[2] === "") break;
    }
    if (token.lastIndex !== inner.length) throw new Error(`yaml line ${line.n}: malformed flow sequence`);
    return items;
  }
  if (/^[&*!|>%@`{}\]]/.test(text) || / #|: |:$/.test(text) || /^["']/.test(text)) {
    throw new Error(`yaml line ${line.n}: outside the supported subset: ${text.slice(0, 20)}`);
  }
  if (text === "true" || text === "false") return text === "true";
  if (text === "null" || text === "~") return null;
  if (/^-?(?:0|[1-9]\d*)$/.test(text)) return Number(text);
  return text;
}
