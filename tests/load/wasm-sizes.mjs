// What a worker's wasm is made of: code bytes per crate and the largest functions, read from
// the name section of an unstripped build (the release profile strips it). Pre-wasm-bindgen,
// so the `__wbindgen_describe_*` functions it lists are removed by the build.
//   CARGO_PROFILE_RELEASE_STRIP=false CARGO_TARGET_DIR=target/sizes \
//     cargo build --release --target wasm32-unknown-unknown -p voice-router
//   node tests/load/wasm-sizes.mjs target/sizes/wasm32-unknown-unknown/release/voice_router.wasm
import { readFileSync } from "node:fs";
const buf = readFileSync(process.argv[2]);
let p = 8;
const u32 = () => { let r = 0, s = 0, b; do { b = buf[p++]; r |= (b & 0x7f) << s; s += 7; } while (b & 0x80); return r >>> 0; };
const sections = []; let codeBodies = []; let names = new Map(); let nImports = 0; let dataSize = 0;
while (p < buf.length) {
  const id = buf[p++]; const size = u32(); const start = p; const end = p + size;
  if (id === 0) { const nl = u32(); const name = buf.subarray(p, p + nl).toString(); p += nl;
    sections.push([`custom:${name}`, size]);
    if (name === "name") { while (p < end) { const sub = buf[p++]; const ss = u32(); const se = p + ss;
      if (sub === 1) { const n = u32(); for (let i = 0; i < n; i++) { const idx = u32(); const l = u32(); names.set(idx, buf.subarray(p, p + l).toString()); p += l; } }
      p = se; } }
  } else {
    sections.push([id, size]);
    if (id === 2) { const n = u32(); for (let i = 0; i < n; i++) { let l = u32(); p += l; l = u32(); p += l; const kind = buf[p++]; if (kind === 0) { u32(); nImports++; } else if (kind === 1) { p++; const f = buf[p++]; u32(); if (f & 1) u32(); } else if (kind === 2) { const f = buf[p++]; u32(); if (f & 1) u32(); } else if (kind === 3) { p += 2; } } }
    if (id === 10) { const n = u32(); for (let i = 0; i < n; i++) { const s = u32(); codeBodies.push([nImports + i, s]); p += s; } }
    if (id === 11) dataSize = size;
  }
  p = end;
}
console.log("sections", sections.map(([a, b]) => `${a}:${b}`).join(" "));
const crateOf = (n) => {
  if (!n) return "(unnamed)";
  if (n.startsWith("__wbindgen_describe")) return "(wasm-bindgen descriptors: removed by the build)";
  // v0 mangling: the first crate root, C<disambiguator>_<len><name>.
  let m = n.match(/^_R.*?C[0-9A-Za-z]*_(\d+)([A-Za-z_][A-Za-z0-9_]*)/);
  if (m) return m[2].slice(0, Number(m[1]));
  // legacy mangling: the first path segment; an impl `<T as Trait>` counts for T's crate.
  m = n.match(/^_ZN(\d+)(.*)/);
  if (m) {
    const seg = m[2].slice(0, Number(m[1]));
    const inner = seg.match(/^_\$LT\$(?:\$RF\$)?(?:mut\$u20\$)?([A-Za-z_][A-Za-z0-9_]*)/);
    return inner ? inner[1] : seg;
  }
  m = n.match(/^<?([a-z_0-9]+)::/);
  if (m) return m[1];
  return n.split(/[:(]/)[0].slice(0, 30);
};
const by = new Map(); let total = 0;
const fns = [];
for (const [idx, s] of codeBodies) { const c = crateOf(names.get(idx)); by.set(c, (by.get(c) ?? 0) + s); total += s; fns.push([s, names.get(idx) ?? `#${idx}`]); }
console.log("code bytes", total, "functions", codeBodies.length, "data", dataSize);
for (const [c, s] of [...by].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(String(s).padStart(8), (s / total * 100).toFixed(1).padStart(5), "%", c);
console.log("--- top functions");
for (const [s, n] of fns.sort((a, b) => b[0] - a[0]).slice(0, Number(process.env.TOPF ?? 30))) console.log(String(s).padStart(8), n.slice(0, 160));
