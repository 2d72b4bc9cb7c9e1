#!/usr/bin/env bash
# Installs everything Ledgerflow needs that a fresh machine lacks, into .tools/ (git-ignored),
# reusing a per-user cache keyed by version so a second clone does not rebuild anything.
# Idempotent: when all is present it only checks, in well under a second.
set -euo pipefail

NODE_VERSION=24.21.0
NODE_MINIMUM=24.9.0
TEMPORAL_CLI_VERSION=v1.5.1
STRIPE_MOCK_VERSION=v0.197.0
TEMPORAL_TEST_SERVER_VERSION=1.38.0
SCHEMATHESIS_VERSION=4.32.5
PYTHON_MINIMUM=3.11

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
bin="$tools/bin"
cache="${LEDGERFLOW_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ledgerflow/tools}"
mkdir -p "$bin" "$cache"

say() { printf 'bootstrap: %s\n' "$*" >&2; }
fail() {
  printf 'bootstrap: error: %s\n' "$*" >&2
  exit 1
}
need() {
  local command=$1 why=$2 how=$3
  command -v "$command" >/dev/null 2>&1 || fail "'$command' is required to $why, and it is not on PATH. $how"
}
# Builds into a temporary directory and renames it into place, so an interrupted install never
# leaves a half-filled cache entry that later runs would trust.
install_into_cache() {
  local name=$1
  shift
  local target="$cache/$name" staging
  [ -e "$target/.complete" ] && return 0
  staging="$(mktemp -d "$cache/.staging-$name.XXXXXX")"
  if ! "$@" "$staging"; then
    rm -rf "$staging"
    fail "installing $name failed (see the output above)"
  fi
  touch "$staging/.complete"
  rm -rf "$target"
  mv "$staging" "$target"
}
link() { ln -sfn "$1" "$bin/$2"; }
version_at_least() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]; }

# --- Node.js 24 ---------------------------------------------------------------------------------
system_node_version="$(PATH="${PATH//$bin:/}" node --version 2>/dev/null | sed 's/^v//' || true)"
if [ -n "$system_node_version" ] && version_at_least "$system_node_version" "$NODE_MINIMUM"; then
  rm -f "$bin/node"
else
  need npm "install Node.js $NODE_VERSION from the npm registry" "Install any Node.js with npm (apt-get install nodejs npm), then rerun."
  fetch_node() {
    say "installing Node.js $NODE_VERSION from the npm registry (system Node is ${system_node_version:-missing})"
    npm install --prefix "$1" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "node@$NODE_VERSION" >&2
  }
  install_into_cache "node-$NODE_VERSION" fetch_node
  link "$cache/node-$NODE_VERSION/node_modules/node/bin/node" node
fi
export PATH="$bin:$PATH"
[ "$(node --version)" = "v$NODE_VERSION" ] || version_at_least "$(node --version | sed 's/^v//')" "$NODE_MINIMUM" ||
  fail "node on PATH is $(node --version); Ledgerflow needs >= $NODE_MINIMUM"

# --- npm dependencies, from the committed lockfile ------------------------------------------
stamp="$root/node_modules/.ledgerflow-lock"
wanted="$(cat "$root/package-lock.json" <(node --version) | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  say "installing npm dependencies (npm ci)"
  (cd "$root" && npm ci --no-audit --no-fund --loglevel=error >&2)
  printf '%s\n' "$wanted" >"$stamp"
fi

# --- Go tools: the Temporal CLI (dev server with the UI) and stripe-mock ---------------------
go_install() {
  local package=$1 staging=$2
  need go "build $package" "Install Go 1.23 or newer (https://go.dev/dl, or apt-get install golang-go) and rerun."
  say "building $package (go install; the first build takes a few minutes)"
  GOBIN="$staging" GOFLAGS="${GOFLAGS:-} -trimpath" go install "$package" >&2
}
fetch_temporal() { go_install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION" "$1"; }
fetch_stripe_mock() { go_install "github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION" "$1"; }
install_into_cache "temporal-cli-$TEMPORAL_CLI_VERSION" fetch_temporal
install_into_cache "stripe-mock-$STRIPE_MOCK_VERSION" fetch_stripe_mock
link "$cache/temporal-cli-$TEMPORAL_CLI_VERSION/temporal" temporal
link "$cache/stripe-mock-$STRIPE_MOCK_VERSION/stripe-mock" stripe-mock

# --- Temporal's time-skipping test server (Java, from Maven Central) --------------------------
fetch_test_server() {
  local staging=$1
  need java "run Temporal's time-skipping test server" "Install a JDK 17 or newer (apt-get install openjdk-17-jre-headless) and rerun."
  need mvn "fetch Temporal's time-skipping test server from Maven Central" "Install Maven (apt-get install maven) and rerun."
  say "fetching io.temporal:temporal-test-server:$TEMPORAL_TEST_SERVER_VERSION from Maven Central"
  if ! mvn -q -B -Dstyle.color=never -f "$root/scripts/temporal-test-server/pom.xml" dependency:copy-dependencies \
    -Dtemporal.test.server.version="$TEMPORAL_TEST_SERVER_VERSION" -DincludeScope=runtime \
    -DoutputDirectory="$staging/lib" >"$staging/mvn.log" 2>&1; then
    cat "$staging/mvn.log" >&2
    return 1
  fi
  # The TypeScript SDK waits only 5 s for the server to listen: a lean JVM start keeps it well inside.
  cat >"$staging/temporal-test-server" <<LAUNCHER
#!/usr/bin/env bash
exec java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData -Xshare:auto \\
  -cp "$cache/temporal-test-server-$TEMPORAL_TEST_SERVER_VERSION/lib/*" io.temporal.testserver.TestServer "\$@"
LAUNCHER
  chmod +x "$staging/temporal-test-server"
}
install_into_cache "temporal-test-server-$TEMPORAL_TEST_SERVER_VERSION" fetch_test_server
link "$cache/temporal-test-server-$TEMPORAL_TEST_SERVER_VERSION/temporal-test-server" temporal-test-server

# --- Schemathesis, the outside API fuzzer (PyPI), in a venv of its own ----------------------------
# The venv holds exactly the pinned set in scripts/schemathesis/requirements.txt; its entry is keyed
# by the version and a hash of that set, so a changed pin installs afresh.
schemathesis_requirements="$root/scripts/schemathesis/requirements.txt"
grep -qx "schemathesis==$SCHEMATHESIS_VERSION" "$schemathesis_requirements" ||
  fail "scripts/schemathesis/requirements.txt does not pin schemathesis==$SCHEMATHESIS_VERSION"
schemathesis_entry="schemathesis-$SCHEMATHESIS_VERSION-$(sha256sum "$schemathesis_requirements" | cut -c1-12)"
fetch_schemathesis() {
  local staging=$1
  need python3 "run Schemathesis, the API fuzzer in npm test" "Install Python $PYTHON_MINIMUM or newer with venv (apt-get install python3 python3-venv) and rerun."
  python3 -c "import sys; sys.exit(sys.version_info < tuple(map(int, '$PYTHON_MINIMUM'.split('.'))))" ||
    fail "python3 is $(python3 --version 2>&1); Schemathesis $SCHEMATHESIS_VERSION needs Python >= $PYTHON_MINIMUM"
  say "installing schemathesis $SCHEMATHESIS_VERSION from PyPI (pip, into a venv)"
  python3 -m venv "$staging" >&2 || return 1
  "$staging/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$schemathesis_requirements" >&2 || return 1
  # The venv's own scripts name the staging path; this launcher names the cache entry.
  cat >"$staging/schemathesis" <<LAUNCHER
#!/usr/bin/env bash
exec "$cache/$schemathesis_entry/bin/python" -m schemathesis.cli "\$@"
LAUNCHER
  chmod +x "$staging/schemathesis"
}
install_into_cache "$schemathesis_entry" fetch_schemathesis
link "$cache/$schemathesis_entry/schemathesis" schemathesis

say "ready: node $(node --version), $("$bin/temporal" --version 2>/dev/null | head -n 1), stripe-mock $STRIPE_MOCK_VERSION, temporal-test-server $TEMPORAL_TEST_SERVER_VERSION, schemathesis $SCHEMATHESIS_VERSION"
