// scripts/tunnel (issue 20): .env validation, rendering of cloudflared's config and
// credentials, owner-only permissions, no secret outside .env and the build folder, clean,
// start with and without cloudflared; and the committed docker-compose.yml, Dockerfile,
// .env.example and .gitignore. Hermetic: every run works in its own temp folder.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, execFileSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { VARIABLES, parseEnv } from "../../scripts/tunnel.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SCRIPT = path.join(ROOT, "scripts", "tunnel");
const MJS = path.join(ROOT, "scripts", "tunnel.mjs");

/** A rendered YAML file, read strictly (duplicate keys and anything ambiguous are errors). */
const readYaml = (text) => parseYaml(text, { strict: true, uniqueKeys: true, prettyErrors: true });

// Recognisable values: each secret is searched for, verbatim, everywhere it must not be.
const SECRETS = {
  TUNNEL_SECRET: Buffer.from("tunnel-secret-0123456789-abcdefghij-XYZ").toString("base64"),
  AI_PRIMARY_ACCESS_CLIENT_ID: "5ecc0123456789abcdef0123456789ab.access",
  AI_PRIMARY_ACCESS_CLIENT_SECRET: "5ec2".padEnd(64, "e1"),
  AI_FALLBACK_ACCESS_CLIENT_ID: "5ec70123456789abcdef0123456789ab.access",
  AI_FALLBACK_ACCESS_CLIENT_SECRET: "5ec8".padEnd(64, "9"),
  LINE_CHANNEL_SECRET: "5ec3456789abcdef0123456789abcdef",
  LINE_CHANNEL_ACCESS_TOKEN: "line-token-5ec4/abc+def=",
  AI_PRIMARY_API_KEY: "sk-5ec5-primary-key",
  AI_FALLBACK_API_KEY: "sk-5ec6-fallback-key",
};
const BASE = {
  TUNNEL_ID: "6ff42ae2-765d-4adf-8112-31c55c1551ef",
  TUNNEL_NAME: "ayaka-llm",
  TUNNEL_ACCOUNT_TAG: "0123456789abcdef0123456789abcdef",
  TUNNEL_SECRET: SECRETS.TUNNEL_SECRET,
  TUNNEL_HOSTNAME: "llm.example.com",
  LANGSERVE_LOCAL_URL: "http://127.0.0.1:8000",
};
const FULL = {
  ...BASE,
  ORIGIN_CONNECT_TIMEOUT: "5s",
  ORIGIN_TLS_TIMEOUT: "7s",
  ORIGIN_TCP_KEEPALIVE: "15s",
  ORIGIN_KEEPALIVE_TIMEOUT: "1m30s",
  ORIGIN_KEEPALIVE_CONNECTIONS: "32",
  ACCESS_TEAM_NAME: "ayaka",
  ACCESS_AUD_TAG: "ab".repeat(32),
  ...SECRETS,
};

const envText = (vars, extra = "") =>
  `# sample\n\n${Object.entries(vars)
    .map(([k, v]) => `${k}=${v}`)
    .join("\n")}\n${extra}`;

let scratch;
before(() => {
  scratch = mkdtempSync(path.join(tmpdir(), "tunnel-scripts-"));
});
after(() => rmSync(scratch, { recursive: true, force: true }));

let counter = 0;
/** A fresh folder holding only `.env` (mode 0600) with `text`. */
function workspace(text) {
  const dir = path.join(scratch, `w${(counter += 1)}`);
  mkdirSync(dir);
  writeFileSync(path.join(dir, ".env"), text, { mode: 0o600 });
  return { dir, env: path.join(dir, ".env"), out: path.join(dir, "build", "tunnel") };
}

/** Runs scripts/tunnel; resolves to { status, stdout, stderr }. Async, so tests run side by side. */
function tunnel(args, { env = process.env, viaNode = false, umask = null } = {}) {
  const argv = viaNode ? [process.execPath, MJS, ...args] : [SCRIPT, ...args];
  const [cmd, ...rest] =
    umask === null ? argv : ["/bin/sh", "-c", `umask ${umask}; exec "$@"`, "sh", ...argv];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, rest, { env, stdio: ["ignore", "pipe", "pipe"], timeout: 20_000 });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

const build = (ws, opts) => tunnel(["build", "--dotenv", ws.env, "--out-dir", ws.out], opts);
const mode = (p) => statSync(p).mode & 0o777;

/** Every file under `dir` (links not followed), relative paths. */
function tree(dir, prefix = "") {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(prefix, e.name);
    return e.isDirectory() ? [`${rel}/`, ...tree(path.join(dir, e.name), rel)] : [rel];
  });
}

describe("scripts/tunnel build renders", { concurrency: 4 }, () => {
  test("config.yml: tunnel id, credentials path, hostname → local URL with timeouts, 404 catch-all", async () => {
    const ws = workspace(envText(FULL));
    const r = await build(ws);
    assert.equal(r.status, 0, r.stderr);
    const config = readYaml(readFileSync(path.join(ws.out, "config.yml"), "utf8"));
    assert.deepEqual(config, {
      tunnel: FULL.TUNNEL_ID,
      "credentials-file": path.join(ws.out, "credentials.json"),
      "no-autoupdate": true,
      ingress: [
        {
          hostname: "llm.example.com",
          service: "http://127.0.0.1:8000",
          originRequest: {
            connectTimeout: "5s",
            tlsTimeout: "7s",
            tcpKeepAlive: "15s",
            keepAliveTimeout: "1m30s",
            keepAliveConnections: 32,
            access: { required: true, teamName: "ayaka", audTag: ["ab".repeat(32)] },
          },
        },
        { service: "http_status:404" },
      ],
    });
    assert.deepEqual(JSON.parse(readFileSync(path.join(ws.out, "credentials.json"), "utf8")), {
      AccountTag: FULL.TUNNEL_ACCOUNT_TAG,
      TunnelSecret: SECRETS.TUNNEL_SECRET,
      TunnelID: FULL.TUNNEL_ID,
    });
    // The Worker's secrets, ready for `wrangler secret bulk`; tunnel-only values stay out.
    const { TUNNEL_SECRET: _, ...workerSecrets } = SECRETS;
    assert.deepEqual(JSON.parse(readFileSync(path.join(ws.out, "worker-secrets.json"), "utf8")), workerSecrets);
    assert.match(r.stdout, /config\.yml, .*credentials\.json, .*worker-secrets\.json/);
    assert.match(r.stdout, /https:\/\/llm\.example\.com -> http:\/\/127\.0\.0\.1:8000/);
  });

  test("defaults for the optional timeouts; no access block or worker secrets when unset", async () => {
    const ws = workspace(envText({ ...BASE, LANGSERVE_LOCAL_URL: "https://localhost:8443" }));
    const r = await build(ws);
    assert.equal(r.status, 0, r.stderr);
    const config = readYaml(readFileSync(path.join(ws.out, "config.yml"), "utf8"));
    assert.deepEqual(config.ingress[0], {
      hostname: "llm.example.com",
      service: "https://localhost:8443",
      originRequest: {
        connectTimeout: "10s",
        tlsTimeout: "10s",
        tcpKeepAlive: "30s",
        keepAliveTimeout: "90s",
        keepAliveConnections: 100,
      },
    });
    assert.deepEqual(config.ingress.at(-1), { service: "http_status:404" });
    assert.equal(existsSync(path.join(ws.out, "worker-secrets.json")), false);
  });

  test("the committed .env.example documents exactly the variables build knows, and builds once the secret is set", async () => {
    const example = readFileSync(path.join(ROOT, "tunnel", ".env.example"), "utf8");
    const documented = [...example.matchAll(/^(?:# )?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]);
    assert.deepEqual([...documented].sort(), Object.keys(VARIABLES).sort());
    assert.equal(new Set(documented).size, documented.length, "each variable documented once");
    const as = workspace(example);
    const r = await build(as);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /missing required variable TUNNEL_SECRET/);
    const filled = workspace(example.replace(/^TUNNEL_SECRET=$/m, `TUNNEL_SECRET=${SECRETS.TUNNEL_SECRET}`));
    assert.equal((await build(filled)).status, 0);
  });
});

describe("scripts/tunnel build refuses an invalid .env", { concurrency: 4 }, () => {
  const without = (key) => Object.fromEntries(Object.entries(BASE).filter(([k]) => k !== key));
  const cases = [
    ["missing variable", envText(without("TUNNEL_HOSTNAME")), /^\[tunnel\] \.env: missing required variable TUNNEL_HOSTNAME$/m],
    ["empty required variable", envText({ ...BASE, TUNNEL_ID: "" }), /\.env: missing required variable TUNNEL_ID$/m],
    ["bad UUID", envText({ ...BASE, TUNNEL_ID: "6ff42ae2-765d-4adf-8112-31c55c1551e" }), /\.env line \d+: TUNNEL_ID is not a UUID/],
    ["UUID with junk", envText({ ...BASE, TUNNEL_ID: `${BASE.TUNNEL_ID}x` }), /TUNNEL_ID is not a UUID/],
    ["bad hostname (underscore)", envText({ ...BASE, TUNNEL_HOSTNAME: "llm_box.example.com" }), /TUNNEL_HOSTNAME is not a valid lower-case hostname/],
    ["bad hostname (upper case)", envText({ ...BASE, TUNNEL_HOSTNAME: "LLM.example.com" }), /TUNNEL_HOSTNAME is not a valid lower-case hostname/],
    ["bad hostname (label ends in -)", envText({ ...BASE, TUNNEL_HOSTNAME: "llm-.example.com" }), /TUNNEL_HOSTNAME is not a valid lower-case hostname/],
    ["bad hostname (one label)", envText({ ...BASE, TUNNEL_HOSTNAME: "localhost" }), /TUNNEL_HOSTNAME must be a fully qualified hostname/],
    ["bad hostname (IP address)", envText({ ...BASE, TUNNEL_HOSTNAME: "10.0.0.1" }), /TUNNEL_HOSTNAME must be a hostname, not an IP address/],
    ["bad URL scheme (ftp)", envText({ ...BASE, LANGSERVE_LOCAL_URL: "ftp://127.0.0.1:8000" }), /LANGSERVE_LOCAL_URL must use the http or https scheme/],
    ["bad URL scheme (none)", envText({ ...BASE, LANGSERVE_LOCAL_URL: "localhost:8000" }), /LANGSERVE_LOCAL_URL must use the http or https scheme/],
    ["not a URL", envText({ ...BASE, LANGSERVE_LOCAL_URL: "127.0.0.1:8000" }), /LANGSERVE_LOCAL_URL is not a URL/],
    ["URL with a path", envText({ ...BASE, LANGSERVE_LOCAL_URL: "http://127.0.0.1:8000/chat" }), /LANGSERVE_LOCAL_URL must be scheme, host and port only/],
    ["URL with credentials", envText({ ...BASE, LANGSERVE_LOCAL_URL: "http://u:p@127.0.0.1:8000" }), /LANGSERVE_LOCAL_URL must not carry credentials/],
    ["bad base64 secret (characters)", envText({ ...BASE, TUNNEL_SECRET: "not-base64!!" }), /TUNNEL_SECRET is not standard base64/],
    ["bad base64 secret (padding)", envText({ ...BASE, TUNNEL_SECRET: SECRETS.TUNNEL_SECRET.replace(/=+$/, "") + "=" }), /TUNNEL_SECRET is not standard base64/],
    ["base64 secret too short", envText({ ...BASE, TUNNEL_SECRET: Buffer.alloc(16, 7).toString("base64") }), /TUNNEL_SECRET must decode to at least 32 bytes/],
    ["bad account tag", envText({ ...BASE, TUNNEL_ACCOUNT_TAG: "xyz" }), /TUNNEL_ACCOUNT_TAG is not an account tag/],
    ["duplicate key", envText(BASE, "TUNNEL_NAME=other\n"), /\.env line 9: duplicate key TUNNEL_NAME \(first set on line 4\)/],
    ["malformed line (export)", envText(BASE, "export TUNNEL_UID=1000\n"), /\.env line 9: not a KEY=value line/],
    ["malformed line (spaces around =)", envText(BASE, "TUNNEL_UID = 1000\n"), /\.env line 9: not a KEY=value line/],
    ["malformed line (no =)", envText(BASE, "just some words\n"), /\.env line 9: not a KEY=value line/],
    ["unquoted value with a space", envText(BASE, "AI_PRIMARY_API_KEY=a b\n"), /line 9: AI_PRIMARY_API_KEY: unquoted value with a space/],
    ["unterminated quote", envText(BASE, "AI_PRIMARY_API_KEY='abc\n"), /line 9: AI_PRIMARY_API_KEY: unterminated or nested single quotes/],
    ["unknown variable", envText(BASE, "TUNEL_UID=1000\n"), /line 9: unknown variable TUNEL_UID/],
    ["bad duration", envText({ ...BASE, ORIGIN_CONNECT_TIMEOUT: "10" }), /ORIGIN_CONNECT_TIMEOUT is not a positive duration/],
    ["zero duration", envText({ ...BASE, ORIGIN_TLS_TIMEOUT: "0s" }), /ORIGIN_TLS_TIMEOUT is not a positive duration/],
    ["keepalive connections out of range", envText({ ...BASE, ORIGIN_KEEPALIVE_CONNECTIONS: "5000" }), /ORIGIN_KEEPALIVE_CONNECTIONS must be a whole number from 1 to 1024/],
    ["half of a pair", envText({ ...BASE, AI_FALLBACK_ACCESS_CLIENT_ID: SECRETS.AI_FALLBACK_ACCESS_CLIENT_ID }), /AI_FALLBACK_ACCESS_CLIENT_SECRET must be set together with AI_FALLBACK_ACCESS_CLIENT_ID/],
    ["bad Access client id", envText({ ...BASE, AI_PRIMARY_ACCESS_CLIENT_ID: "abc", AI_PRIMARY_ACCESS_CLIENT_SECRET: SECRETS.AI_PRIMARY_ACCESS_CLIENT_SECRET }), /AI_PRIMARY_ACCESS_CLIENT_ID is not an Access service token client id/],
    ["half of the Access check", envText({ ...BASE, ACCESS_AUD_TAG: "ab".repeat(32) }), /ACCESS_TEAM_NAME must be set together with ACCESS_AUD_TAG/],
  ];
  // The seven kinds the issue names run through the command (exit 2, nothing written); every
  // case, those included, also goes through the same parser in-process (fast).
  const viaCli = new Set([
    "missing variable",
    "bad UUID",
    "bad hostname (underscore)",
    "bad URL scheme (ftp)",
    "bad base64 secret (characters)",
    "duplicate key",
    "malformed line (export)",
  ]);
  for (const [name, text, message] of cases) {
    test(name, async () => {
      const { problems } = parseEnv(text, ".env");
      assert.equal(problems.length, 1, `one problem: ${problems.join(" | ")}`);
      assert.match(`[tunnel] ${problems[0]}`, message);
      if (!viaCli.has(name)) return;
      const ws = workspace(text);
      const r = await build(ws);
      assert.equal(r.status, 2, `exit 2; stderr: ${r.stderr}`);
      assert.equal(r.stderr, `[tunnel] ${problems[0]}\n`);
      assert.equal(r.stdout, "");
      assert.equal(existsSync(path.join(ws.dir, "build")), false, "nothing written");
      for (const secret of Object.values(SECRETS)) assert.ok(!r.stderr.includes(secret), "no value echoed");
    });
  }
  test("the command runs each kind the issue names", () => assert.equal(cases.filter(([n]) => viaCli.has(n)).length, viaCli.size));

  test("every problem is listed, one line each, without any value", async () => {
    const ws = workspace(
      [
        "TUNNEL_ID=nope",
        "TUNNEL_ID=again",
        "TUNNEL_HOSTNAME=bad host",
        `LANGSERVE_LOCAL_URL=gopher://x`,
        `TUNNEL_SECRET=${SECRETS.TUNNEL_SECRET}!`,
        "garbage",
        "",
      ].join("\n"),
    );
    const r = await build(ws);
    assert.equal(r.status, 2);
    const lines = r.stderr.trim().split("\n");
    const expected = [
      /line 2: duplicate key TUNNEL_ID/,
      /line 3: TUNNEL_HOSTNAME: unquoted value with a space/,
      /line 6: not a KEY=value line/,
      /line 1: TUNNEL_ID is not a UUID/,
      /missing required variable TUNNEL_NAME/,
      /missing required variable TUNNEL_ACCOUNT_TAG/,
      /line 5: TUNNEL_SECRET is not standard base64/,
      /missing required variable TUNNEL_HOSTNAME/,
      /line 4: LANGSERVE_LOCAL_URL must use the http or https scheme/,
    ];
    assert.equal(lines.length, expected.length, r.stderr);
    expected.forEach((re, i) => assert.match(lines[i], re));
    assert.ok(!r.stderr.includes(SECRETS.TUNNEL_SECRET) && !r.stderr.includes("gopher"), "no value echoed");
  });

  test("a missing .env says how to make one", async () => {
    const r = await tunnel(["build", "--dotenv", path.join(scratch, "absent.env"), "--out-dir", path.join(scratch, "absent-out")]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /cannot read .*absent\.env: copy tunnel\/\.env\.example there/);
    assert.equal(existsSync(path.join(scratch, "absent-out")), false);
  });
});

describe("scripts/tunnel keeps secrets owner-only and in place", { concurrency: 4 }, () => {
  for (const [how, opts] of [
    ["scripts/tunnel under umask 000", { umask: "000" }],
    ["tunnel.mjs run directly under umask 000", { umask: "000", viaNode: true }],
  ]) {
    test(`folder 0700, files 0600 (${how})`, async () => {
      const ws = workspace(envText(FULL));
      assert.equal((await build(ws, opts)).status, 0);
      assert.equal(mode(ws.out), 0o700);
      assert.equal(mode(path.dirname(ws.out)), 0o700, "a parent build created is private too");
      const files = readdirSync(ws.out);
      assert.deepEqual(files.sort(), [".generated", "config.yml", "credentials.json", "worker-secrets.json"]);
      for (const f of files) assert.equal(mode(path.join(ws.out, f)), 0o600, f);
    });
  }

  test("an existing open folder and files are tightened; a planted symlink is replaced, not followed", async () => {
    const ws = workspace(envText(FULL));
    mkdirSync(ws.out, { recursive: true, mode: 0o755 });
    chmodSync(ws.out, 0o755);
    writeFileSync(path.join(ws.out, "config.yml"), "old", { mode: 0o644 });
    const outside = path.join(ws.dir, "outside.txt");
    writeFileSync(outside, "untouched", { mode: 0o644 });
    symlinkSync(outside, path.join(ws.out, "credentials.json"));
    assert.equal((await build(ws)).status, 0);
    assert.equal(mode(ws.out), 0o700);
    assert.equal(mode(path.join(ws.out, "config.yml")), 0o600);
    assert.ok(lstatSync(path.join(ws.out, "credentials.json")).isFile(), "the link is gone");
    assert.equal(readFileSync(outside, "utf8"), "untouched");
  });

  test("a .env readable by others is flagged", async () => {
    const ws = workspace(envText(BASE));
    chmodSync(ws.env, 0o644);
    const r = await build(ws);
    assert.equal(r.status, 0);
    assert.match(r.stderr, /warning: .*\.env is open to other users: chmod 600 it/);
  });

  test("no secret appears anywhere but .env and the build folder (files, stdout, stderr, cloudflared's environment)", async () => {
    const ws = workspace(envText(FULL));
    const bin = path.join(ws.dir, "bin");
    mkdirSync(bin);
    const record = path.join(ws.dir, "cloudflared-run.txt");
    writeFileSync(path.join(bin, "cloudflared"), `#!/bin/sh\n{ echo "$@"; /usr/bin/env; } > '${record}'\n`, { mode: 0o755 });
    const env = { PATH: `${bin}:${path.dirname(process.execPath)}:/usr/bin:/bin`, HOME: ws.dir, TMPDIR: ws.dir };
    const runs = [await build(ws, { env }), await tunnel(["start", "--dotenv", ws.env, "--out-dir", ws.out], { env })];
    runs.push(await tunnel(["clean", "--out-dir", ws.out], { env }));
    assert.deepEqual(runs.map((r) => r.status), [0, 0, 0], runs.map((r) => r.stderr).join("\n"));
    assert.ok(existsSync(record), "the fake cloudflared ran");
    // Everything in the workspace except .env itself (the build folder is gone after clean).
    const files = tree(ws.dir).filter((f) => !f.endsWith("/") && f !== ".env");
    assert.ok(files.includes("cloudflared-run.txt"));
    const haystacks = [
      ...files.map((f) => [f, readFileSync(path.join(ws.dir, f), "utf8")]),
      ...runs.flatMap((r, i) => [[`stdout ${i}`, r.stdout], [`stderr ${i}`, r.stderr]]),
    ];
    for (const [where, text] of haystacks) {
      for (const [name, secret] of Object.entries(SECRETS)) {
        assert.ok(!text.includes(secret), `${name} found in ${where}`);
      }
    }
  });
});

describe("scripts/tunnel clean", { concurrency: 4 }, () => {
  test("removes everything build generated, the folders it created included", async () => {
    const ws = workspace(envText(FULL));
    const before = tree(ws.dir);
    assert.equal((await build(ws)).status, 0);
    assert.ok(tree(ws.dir).length > before.length);
    const r = await tunnel(["clean", "--out-dir", ws.out]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(tree(ws.dir), before, "back to just .env");
    assert.match(r.stdout, /removed 4 generated file\(s\)/);
  });

  test("a rebuild, then clean, still removes the folders the first build created", async () => {
    const ws = workspace(envText(FULL));
    assert.equal((await build(ws)).status, 0);
    assert.equal((await build(ws)).status, 0);
    assert.equal((await tunnel(["clean", "--out-dir", ws.out])).status, 0);
    assert.deepEqual(tree(ws.dir), [".env"]);
  });

  test("a rebuild without the Worker secrets removes the stale worker-secrets.json", async () => {
    const ws = workspace(envText(FULL));
    assert.equal((await build(ws)).status, 0);
    writeFileSync(ws.env, envText(BASE), { mode: 0o600 });
    assert.equal((await build(ws)).status, 0);
    assert.equal(existsSync(path.join(ws.out, "worker-secrets.json")), false);
  });

  test("keeps a folder that existed before, and files build did not write", async () => {
    const ws = workspace(envText(BASE));
    mkdirSync(path.join(ws.dir, "build"));
    assert.equal((await build(ws)).status, 0);
    writeFileSync(path.join(ws.out, "notes.txt"), "mine");
    const r = await tunnel(["clean", "--out-dir", ws.out]);
    assert.equal(r.status, 0);
    assert.deepEqual(tree(ws.dir).sort(), [".env", "build/", "build/tunnel/", "build/tunnel/notes.txt"]);
    assert.match(r.stdout, /kept .*tunnel: it holds files build did not write/);
    rmSync(path.join(ws.out, "notes.txt"));
    assert.equal((await tunnel(["clean", "--out-dir", ws.out])).status, 0);
    assert.deepEqual(tree(ws.dir).sort(), [".env", "build/"], "build/ existed before: kept");
  });

  test("a manifest naming a folder outside the output's ancestors is not trusted", async () => {
    const ws = workspace(envText(BASE));
    assert.equal((await build(ws)).status, 0);
    const manifest = path.join(ws.out, ".generated");
    writeFileSync(manifest, JSON.stringify({ files: [".env", "../../.env"], createdFrom: scratch }));
    const sibling = path.join(ws.dir, "empty-sibling");
    mkdirSync(sibling);
    assert.equal((await tunnel(["clean", "--out-dir", ws.out])).status, 0);
    // scratch is an ancestor, so it may bound the walk; the walk still stops at the first
    // non-empty folder, and nothing but build's outputs is deleted.
    assert.deepEqual(tree(ws.dir).sort(), [".env", "empty-sibling/"]);
    mkdirSync(ws.out, { recursive: true });
    writeFileSync(path.join(ws.out, ".generated"), JSON.stringify({ createdFrom: sibling }));
    assert.equal((await tunnel(["clean", "--out-dir", ws.out])).status, 0);
    assert.deepEqual(tree(ws.dir).sort(), [".env", "build/", "empty-sibling/"], "not an ancestor: only the output folder goes");
  });

  test("with nothing built it succeeds and touches nothing", async () => {
    const ws = workspace(envText(BASE));
    const r = await tunnel(["clean", "--out-dir", ws.out]);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /nothing to clean/);
    assert.deepEqual(tree(ws.dir), [".env"]);
  });
});

describe("scripts/tunnel start", { concurrency: 4 }, () => {
  test("without cloudflared on PATH: says how to install it, exits non-zero, builds nothing", async () => {
    const ws = workspace(envText(BASE));
    const empty = path.join(ws.dir, "empty-bin");
    mkdirSync(empty);
    writeFileSync(path.join(empty, "cloudflared"), "not a program", { mode: 0o644 }); // not executable: not installed
    const r = await tunnel(["start", "--dotenv", ws.env, "--out-dir", ws.out], {
      viaNode: true,
      env: { PATH: empty, HOME: ws.dir },
    });
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /cloudflared is not installed \(not found on PATH\)/);
    assert.match(r.stderr, /Debian package/);
    assert.match(r.stderr, /docker compose up --build/);
    assert.equal(existsSync(path.join(ws.dir, "build")), false);
  });

  test("with cloudflared: builds, then runs `cloudflared tunnel --config DIR/config.yml run` and passes its exit code on", async () => {
    const ws = workspace(envText(BASE));
    const bin = path.join(ws.dir, "bin");
    mkdirSync(bin);
    const record = path.join(ws.dir, "args.txt");
    // The fake checks the config exists when it starts, then exits 7.
    writeFileSync(
      path.join(bin, "cloudflared"),
      `#!/bin/sh\nprintf '%s\\n' "$@" > '${record}'\n[ -f "$3" ] && echo config-present >> '${record}'\nexit 7\n`,
      { mode: 0o755 },
    );
    const r = await tunnel(["start", "--dotenv", ws.env, "--out-dir", ws.out], {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    assert.equal(r.status, 7, r.stderr);
    assert.deepEqual(readFileSync(record, "utf8").trim().split("\n"), [
      "tunnel",
      "--config",
      path.join(ws.out, "config.yml"),
      "run",
      "config-present",
    ]);
  });

  test("help lists the commands; an unknown command or option is refused", async () => {
    const help = await tunnel(["help"]);
    assert.equal(help.status, 0);
    for (const word of ["build", "clean", "start", "--dotenv", "--out-dir"]) assert.ok(help.stdout.includes(word), word);
    const bad = await tunnel(["deploy"]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /unknown command deploy/);
    const badOpt = await tunnel(["build", "--out", "x"]);
    assert.equal(badOpt.status, 1);
    assert.match(badOpt.stderr, /unknown option --out/);
  });
});

describe("committed container and git files", { concurrency: 4 }, () => {
  test("docker-compose.yml runs LangServe and cloudflared from the rendered build folder, with no secret in it", async () => {
    const text = readFileSync(path.join(ROOT, "docker-compose.yml"), "utf8");
    const compose = readYaml(text);
    assert.deepEqual(Object.keys(compose.services).sort(), ["cloudflared", "langserve"]);
    const { langserve, cloudflared } = compose.services;
    assert.equal(langserve.build.context, "examples/langserve");
    assert.equal(langserve.ports, undefined, "LangServe publishes no port");
    assert.equal(langserve.environment.HOST, "127.0.0.1");
    assert.match(cloudflared.image, /^cloudflare\/cloudflared:\d{4}\.\d+\.\d+$/, "pinned image");
    assert.equal(cloudflared.network_mode, "service:langserve", "reaches LangServe on the shared loopback");
    assert.deepEqual(cloudflared.volumes, ["./build/tunnel:/etc/cloudflared:ro"]);
    const cmd = cloudflared.command;
    assert.equal(cmd[0], "tunnel");
    assert.equal(cmd.at(-1), "run");
    assert.equal(cmd[cmd.indexOf("--config") + 1], "/etc/cloudflared/config.yml");
    assert.equal(cmd[cmd.indexOf("--credentials-file") + 1], "/etc/cloudflared/credentials.json");
    assert.equal(cloudflared.depends_on.langserve.condition, "service_healthy");
    for (const service of [langserve, cloudflared]) {
      assert.equal(service.env_file, undefined, "no .env handed to a container");
      assert.deepEqual(service.cap_drop, ["ALL"]);
      assert.equal(service.read_only, true);
    }
    // No secret variable is named, let alone given a value.
    for (const [name, spec] of Object.entries(VARIABLES)) {
      if (spec.secret) assert.ok(!text.includes(name), `${name} in docker-compose.yml`);
    }
    assert.doesNotMatch(text, /TunnelSecret|AccountTag|[A-Za-z0-9+/]{40,}={0,2}/);
  });

  test("the LangServe image copies only app.py and requirements.txt and does not run as root", async () => {
    const dockerfile = readFileSync(path.join(ROOT, "examples", "langserve", "Dockerfile"), "utf8");
    const copies = [...dockerfile.matchAll(/^COPY (.+)$/gm)].map((m) => m[1]);
    assert.deepEqual(copies, ["requirements.txt .", "app.py ."]);
    assert.match(dockerfile, /^USER (?!root|0\b)\S+$/m);
    const ignore = readFileSync(path.join(ROOT, "examples", "langserve", ".dockerignore"), "utf8");
    assert.deepEqual(ignore.split("\n").filter((l) => l && !l.startsWith("#")), ["*", "!app.py", "!requirements.txt"]);
  });

  test("git ignores .env and the build folder, not the example", async () => {
    const ignored = (p) =>
      spawnSync("git", ["-C", ROOT, "check-ignore", "-q", "--no-index", p]).status === 0;
    assert.ok(ignored(".env"));
    assert.ok(ignored("build/tunnel/credentials.json"));
    assert.ok(!ignored("tunnel/.env.example"));
    assert.ok(!ignored("tunnel/config.yml.template"));
  });
});
