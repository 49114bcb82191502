// The LangServe tunnel: validates `.env`, renders cloudflared's config and credentials
// from tunnel/*.template into build/tunnel/ (0700 folder, 0600 files), removes them again,
// and runs cloudflared. Run through scripts/tunnel (which sets umask 077 first).
//
// Secrets are read from the .env file only and written only into the output folder:
// nothing here prints a value, exports one into the environment or writes a temp file.
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  fchmodSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmdirSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TEMPLATES = path.join(ROOT, "tunnel");
const USAGE = `usage: scripts/tunnel <command> [--dotenv FILE] [--out-dir DIR]

commands:
  build   check the .env file and render cloudflared's config.yml, credentials.json and
          the Worker's secrets (worker-secrets.json) into the output folder (0700, files 0600)
  clean   remove what build generated (and the folder, when nothing else is left in it)
  start   build, then run: cloudflared tunnel --config DIR/config.yml run
  help    this text

options:
  --dotenv FILE   settings and secrets (default: .env at the repository root;
                  tunnel/.env.example documents every variable)
  --out-dir DIR   output folder (default: build/tunnel at the repository root)`;

const INSTALL_HELP = `cloudflared is not installed (not found on PATH). Either:
  - install Cloudflare's cloudflared Debian package (from Cloudflare's apt repository, or the
    cloudflared-linux-amd64.deb of a cloudflared release), then run scripts/tunnel start again;
  - or run LangServe and cloudflared together in containers:
      scripts/tunnel build && TUNNEL_UID=$(id -u) TUNNEL_GID=$(id -g) docker compose up --build`;

// Exit codes: 1 usage, 2 invalid .env or template, 3 cloudflared missing, 4 file system.
class Failure extends Error {
  constructor(lines, code) {
    super(lines.join("\n"));
    this.lines = lines;
    this.code = code;
  }
}

// ---------- .env ----------

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX = (n) => new RegExp(`^[0-9a-f]{${n}}$`, "i");
// A Go duration as cloudflared parses it (time.ParseDuration), positive, units ms..h.
const DURATION = /^(?:\d{1,6}(?:ms|s|m|h)){1,4}$/;

function checkHostname(v) {
  if (v.length > 253) return "is longer than 253 characters";
  const labels = v.split(".");
  if (labels.length < 2) return "must be a fully qualified hostname such as llm.example.com";
  for (const label of labels) {
    if (!/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(label)) {
      return "is not a valid lower-case hostname (labels of a-z, 0-9 and inner '-', at most 63 each)";
    }
  }
  if (/^\d+$/.test(labels.at(-1))) return "must be a hostname, not an IP address";
  return null;
}

function checkLocalUrl(v) {
  let url;
  try {
    url = new URL(v);
  } catch {
    return "is not a URL (expected e.g. http://127.0.0.1:8000)";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "must use the http or https scheme";
  if (url.username || url.password) return "must not carry credentials";
  if (url.pathname !== "/" || url.search || url.hash || /[?#]$/.test(v)) {
    return "must be scheme, host and port only (cloudflared refuses a path on a service URL)";
  }
  if (!url.hostname) return "has no host";
  return null;
}

function checkBase64Secret(v) {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(v)) {
    return "is not standard base64 (A-Z a-z 0-9 + /, padded with =)";
  }
  if (Buffer.from(v, "base64").length < 32) return "must decode to at least 32 bytes";
  return null;
}

const match = (re, what) => (v) => (re.test(v) ? null : what);
const intIn = (lo, hi) => (v) =>
  /^\d{1,7}$/.test(v) && Number(v) >= lo && Number(v) <= hi ? null : `must be a whole number from ${lo} to ${hi}`;
const duration = (v) =>
  DURATION.test(v) && /[1-9]/.test(v) ? null : "is not a positive duration such as 500ms, 10s or 1m30s";
const anyValue = () => null;

// Every variable the .env may hold. `secret` values are never printed; `yaml: "raw"` ones are
// rendered unquoted (numbers). Pairs are set together or not at all.
export const VARIABLES = {
  TUNNEL_ID: { required: true, check: match(UUID, "is not a UUID (8-4-4-4-12 hex digits)") },
  TUNNEL_NAME: {
    required: true,
    check: match(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "must be 1-63 letters, digits, '.', '_' or '-'"),
  },
  TUNNEL_ACCOUNT_TAG: { required: true, check: match(HEX(32), "is not an account tag (32 hex digits)") },
  TUNNEL_SECRET: { required: true, secret: true, check: checkBase64Secret },
  TUNNEL_HOSTNAME: { required: true, check: checkHostname },
  LANGSERVE_LOCAL_URL: { required: true, check: checkLocalUrl },
  ORIGIN_CONNECT_TIMEOUT: { fallback: "10s", check: duration },
  ORIGIN_TLS_TIMEOUT: { fallback: "10s", check: duration },
  ORIGIN_TCP_KEEPALIVE: { fallback: "30s", check: duration },
  ORIGIN_KEEPALIVE_TIMEOUT: { fallback: "90s", check: duration },
  ORIGIN_KEEPALIVE_CONNECTIONS: { fallback: "100", yaml: "raw", check: intIn(1, 1024) },
  ACCESS_TEAM_NAME: { pair: "ACCESS_AUD_TAG", check: match(/^[a-z0-9][a-z0-9-]{0,62}$/, "is not a team name") },
  ACCESS_AUD_TAG: { pair: "ACCESS_TEAM_NAME", check: match(HEX(64), "is not an audience tag (64 hex digits)") },
  ...accessTokenPair("AI_PRIMARY"),
  ...accessTokenPair("AI_FALLBACK"),
  LINE_CHANNEL_SECRET: { secret: true, worker: true, check: match(HEX(32), "is not a LINE channel secret (32 hex digits)") },
  LINE_CHANNEL_ACCESS_TOKEN: { secret: true, worker: true, check: anyValue },
  AI_PRIMARY_API_KEY: { secret: true, worker: true, check: anyValue },
  AI_FALLBACK_API_KEY: { secret: true, worker: true, check: anyValue },
  LANGSERVE_CHAIN: { check: match(/^[a-z][a-z0-9_-]{0,31}$/, "is not a chain name (a-z, 0-9, '_', '-')") },
  TUNNEL_UID: { check: intIn(0, 2 ** 31 - 1) },
  TUNNEL_GID: { check: intIn(0, 2 ** 31 - 1) },
};

// A Cloudflare Access service token for one provider of the Worker's AI chain, under the
// secret names chat-webhook reads (sent as CF-Access-Client-Id / CF-Access-Client-Secret).
function accessTokenPair(provider) {
  const id = `${provider}_ACCESS_CLIENT_ID`;
  const secret = `${provider}_ACCESS_CLIENT_SECRET`;
  return {
    [id]: {
      secret: true,
      worker: true,
      pair: secret,
      check: match(/^[0-9a-z]{16,64}\.access$/, "is not an Access service token client id (ends in .access)"),
    },
    [secret]: {
      secret: true,
      worker: true,
      pair: id,
      check: match(/^[0-9a-f]{32,128}$/i, "is not an Access service token client secret (hex digits)"),
    },
  };
}

const MAX_ENV_BYTES = 64 * 1024;

/**
 * Parses and validates .env text. Returns { values, problems }: every problem is one line
 * naming the line number or variable, never a value.
 */
export function parseEnv(text, name = ".env") {
  const problems = [];
  const values = {};
  const lineOf = {};
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  lines.forEach((raw, i) => {
    const n = i + 1;
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (/^\s*(?:#.*)?$/.test(line)) return;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) {
      problems.push(`${name} line ${n}: not a KEY=value line (no spaces around '=', no 'export')`);
      return;
    }
    const [, key, rawValue] = m;
    let value = rawValue;
    if (value.startsWith("'")) {
      if (value.length < 2 || !value.endsWith("'") || value.slice(1, -1).includes("'")) {
        problems.push(`${name} line ${n}: ${key}: unterminated or nested single quotes`);
        return;
      }
      value = value.slice(1, -1);
    } else if (/[\s"'`#$\\]/.test(value)) {
      problems.push(
        `${name} line ${n}: ${key}: unquoted value with a space, quote, '#', '$' or '\\' (wrap it in single quotes)`,
      );
      return;
    }
    if (!(key in VARIABLES)) {
      problems.push(`${name} line ${n}: unknown variable ${key} (tunnel/.env.example lists them)`);
      return;
    }
    if (key in lineOf) {
      problems.push(`${name} line ${n}: duplicate key ${key} (first set on line ${lineOf[key]})`);
      return;
    }
    lineOf[key] = n;
    if (value !== "") values[key] = value;
  });
  for (const [key, spec] of Object.entries(VARIABLES)) {
    const value = values[key];
    if (value === undefined) {
      if (spec.required) problems.push(`${name}: missing required variable ${key}`);
      else if (spec.pair && values[spec.pair] !== undefined) {
        problems.push(`${name}: ${key} must be set together with ${spec.pair}`);
      }
      continue;
    }
    const problem = spec.check(value);
    if (problem) problems.push(`${name} line ${lineOf[key]}: ${key} ${problem}`);
  }
  return { values, problems };
}

// ---------- templates ----------

/**
 * Renders a template: `{{NAME}}` becomes the value quoted as a JSON string (valid YAML too),
 * or as is for numbers; lines `{{#NAME}}` … `{{/NAME}}` are kept only when NAME is set.
 * Any other placeholder is an error, so a typo in a template never ships.
 */
export function render(template, values, rawKeys = new Set()) {
  const out = [];
  const open = [];
  for (const line of template.split("\n")) {
    const block = /^\{\{([#/])([A-Z0-9_]+)\}\}$/.exec(line.trim());
    if (block) {
      if (block[1] === "#") open.push(block[2]);
      else if (open.pop() !== block[2]) throw new Failure([`template: unbalanced {{/${block[2]}}}`], 2);
      continue;
    }
    if (open.some((key) => values[key] === undefined)) continue;
    out.push(
      line.replace(/\{\{([^}]*)\}\}/g, (_, key) => {
        if (values[key] === undefined) throw new Failure([`template: unknown or unset placeholder {{${key}}}`], 2);
        return rawKeys.has(key) ? values[key] : JSON.stringify(values[key]);
      }),
    );
  }
  if (open.length) throw new Failure([`template: {{#${open.at(-1)}}} is never closed`], 2);
  return out.join("\n");
}

// ---------- files ----------

const OUTPUTS = ["config.yml", "credentials.json", "worker-secrets.json"];
// Lists what build created, so clean removes exactly that. Holds no secret.
const MANIFEST = ".generated";

/** Creates `dir` (0700) if needed; returns the topmost folder this call created, if any. */
function ensurePrivateDir(dir) {
  const created = mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.isSymbolicLink()) throw new Failure([`${dir} is not a folder`], 4);
  if (typeof process.getuid === "function" && st.uid !== process.getuid()) {
    throw new Failure([`${dir} belongs to another user: refusing to write secrets into it`], 4);
  }
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    fchmodSync(fd, 0o700);
  } finally {
    closeSync(fd);
  }
  return created;
}

/** Writes a new 0600 file: an old one is unlinked first, links are never followed. */
function writePrivate(file, text) {
  if (existsSync(file) || isLink(file)) unlinkSync(file);
  const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

function isLink(file) {
  try {
    return lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}

/** What an earlier build recorded, trusted only as far as it stays inside what build writes. */
function readManifest(outDir) {
  let recorded = {};
  try {
    recorded = JSON.parse(readFileSync(path.join(outDir, MANIFEST), "utf8")) ?? {};
  } catch {
    // no manifest (or not ours): the known outputs, and only the output folder itself
  }
  const from = typeof recorded.createdFrom === "string" ? path.resolve(recorded.createdFrom) : null;
  const isAncestor = from && (from === outDir || outDir.startsWith(from + path.sep));
  return { createdFrom: isAncestor ? from : null };
}

// ---------- commands ----------

function build({ envFile, outDir }) {
  let text;
  try {
    const st = lstatSync(envFile);
    if (!st.isFile()) throw new Failure([`${envFile} is not a regular file`], 2);
    if (st.size > MAX_ENV_BYTES) throw new Failure([`${envFile} is larger than ${MAX_ENV_BYTES} bytes`], 2);
    text = readFileSync(envFile, "utf8");
  } catch (e) {
    if (e instanceof Failure) throw e;
    throw new Failure([`cannot read ${envFile}: copy tunnel/.env.example there and fill it in`], 2);
  }
  if ((lstatSync(envFile).mode & 0o077) !== 0) {
    console.error(`[tunnel] warning: ${envFile} is open to other users: chmod 600 it`);
  }
  const { values, problems } = parseEnv(text, path.basename(envFile));
  if (problems.length) throw new Failure(problems, 2);

  const all = { ...values };
  for (const [key, spec] of Object.entries(VARIABLES)) {
    if (all[key] === undefined && spec.fallback !== undefined) all[key] = spec.fallback;
  }
  const absOut = path.resolve(outDir);
  all.CREDENTIALS_FILE = path.join(absOut, "credentials.json");
  const raw = new Set(Object.keys(VARIABLES).filter((k) => VARIABLES[k].yaml === "raw"));
  const config = render(readFileSync(path.join(TEMPLATES, "config.yml.template"), "utf8"), all, raw);
  const credentials = render(readFileSync(path.join(TEMPLATES, "credentials.json.template"), "utf8"), all);
  const workerSecrets = Object.fromEntries(
    Object.keys(VARIABLES)
      .filter((k) => VARIABLES[k].worker && values[k] !== undefined)
      .map((k) => [k, values[k]]),
  );

  const previous = existsSync(path.join(absOut, MANIFEST)) ? readManifest(absOut) : null;
  const created = ensurePrivateDir(absOut);
  const files = ["config.yml", "credentials.json"];
  writePrivate(path.join(absOut, "config.yml"), config);
  writePrivate(path.join(absOut, "credentials.json"), credentials);
  const secretsFile = path.join(absOut, "worker-secrets.json");
  if (Object.keys(workerSecrets).length) {
    writePrivate(secretsFile, `${JSON.stringify(workerSecrets, null, 2)}\n`);
    files.push("worker-secrets.json");
  } else if (existsSync(secretsFile)) {
    unlinkSync(secretsFile); // stale secrets from an earlier .env
  }
  // A rebuild keeps the record of which folders the first build created.
  const createdFrom = previous?.createdFrom ?? created ?? null;
  writePrivate(path.join(absOut, MANIFEST), `${JSON.stringify({ files, createdFrom }, null, 2)}\n`);

  const rel = (f) => (path.relative(process.cwd(), f).startsWith("..") ? f : path.relative(process.cwd(), f));
  console.log(`wrote ${files.map((f) => rel(path.join(absOut, f))).join(", ")} (folder 0700, files 0600)`);
  console.log(`tunnel ${values.TUNNEL_NAME} (${values.TUNNEL_ID}): https://${values.TUNNEL_HOSTNAME} -> ${values.LANGSERVE_LOCAL_URL}`);
  return absOut;
}

function clean({ outDir }) {
  const absOut = path.resolve(outDir);
  if (!existsSync(absOut)) {
    console.log(`nothing to clean: ${absOut} does not exist`);
    return;
  }
  const { createdFrom } = readManifest(absOut);
  let removed = 0;
  for (const f of [...OUTPUTS, MANIFEST]) {
    const file = path.join(absOut, f);
    if (existsSync(file) || isLink(file)) {
      unlinkSync(file);
      removed += 1;
    }
  }
  // Remove the folders build created, innermost first, each only when empty.
  const stop = path.dirname(createdFrom ?? absOut);
  for (let dir = absOut; dir !== stop && dir.startsWith(stop); dir = path.dirname(dir)) {
    if (readdirSync(dir).length) {
      console.log(`kept ${dir}: it holds files build did not write`);
      break;
    }
    rmdirSync(dir);
  }
  console.log(`removed ${removed} generated file(s) from ${absOut}`);
}

function findOnPath(cmd) {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, cmd);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here, or not executable
    }
  }
  return null;
}

function start(options) {
  const cloudflared = findOnPath("cloudflared");
  if (!cloudflared) throw new Failure(INSTALL_HELP.split("\n"), 3);
  const absOut = build(options);
  const args = ["tunnel", "--config", path.join(absOut, "config.yml"), "run"];
  console.log(`running ${cloudflared} ${args.join(" ")}`);
  const child = spawn(cloudflared, args, { stdio: "inherit" });
  // Ctrl-C reaches cloudflared from the terminal already (a second SIGINT would skip its grace
  // period): just wait for it. A SIGTERM/SIGHUP sent to this process alone is passed on.
  process.on("SIGINT", () => {});
  for (const signal of ["SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
  child.on("error", (e) => {
    console.error(`[tunnel] error: cannot run cloudflared: ${e.code ?? e.message}`);
    process.exit(3);
  });
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
}

function parseArgs(argv) {
  const [command = "help", ...rest] = argv;
  const options = { envFile: path.join(ROOT, ".env"), outDir: path.join(ROOT, "build", "tunnel") };
  for (let i = 0; i < rest.length; i += 1) {
    const [flag, inline] = rest[i].split(/=(.*)/s);
    const value = inline ?? rest[(i += 1)];
    if (value === undefined || value === "") throw new Failure([`${flag} needs a value`, USAGE], 1);
    // Not --env-file: Node 20 itself reacts to that flag anywhere on its command line.
    if (flag === "--dotenv") options.envFile = path.resolve(value);
    else if (flag === "--out-dir") options.outDir = path.resolve(value);
    else throw new Failure([`unknown option ${flag}`, USAGE], 1);
  }
  return { command, options };
}

function main() {
  process.umask(0o077); // also when run without scripts/tunnel: nothing is ever group/world readable
  try {
    const { command, options } = parseArgs(process.argv.slice(2));
    if (command === "build") build(options);
    else if (command === "clean") clean(options);
    else if (command === "start") start(options);
    else if (["help", "--help", "-h"].includes(command)) console.log(USAGE);
    else throw new Failure([`unknown command ${command}`, USAGE], 1);
  } catch (e) {
    if (!(e instanceof Failure)) {
      // A file-system error: report its code and path, never a value read from .env.
      console.error(`[tunnel] error: ${e.code ?? "failed"}${e.path ? ` (${e.path})` : ""}`);
      process.exit(4);
    }
    for (const line of e.lines) console.error(`[tunnel] ${line}`);
    process.exit(e.code);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
