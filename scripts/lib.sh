# Shared by the scripts in this folder: repo root, tool paths, logging. Source it, don't run it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# CI may run with a trimmed environment; cargo, rustup and npm all need HOME.
export HOME="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$ROOT/node_modules/.bin:$PATH"
# The workers are the wrangler configs: wrangler/<name>.toml builds workers/<name>.
mapfile -t WORKERS < <(cd "$ROOT/wrangler" && ls -- *.toml | sed 's/\.toml$//')
WORKER_BUILD_VERSION="0.8.7"
# worker-build must not download anything: these point it at tools scripts/setup installed.
export WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild"
log() { printf '\033[1m[%s]\033[0m %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }
wasm_bindgen_locked_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}
