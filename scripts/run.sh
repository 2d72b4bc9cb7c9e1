#!/usr/bin/env bash
# Runs a command with the project's toolchain: bootstraps first, then puts .tools/bin (Node 24,
# temporal, stripe-mock, the test server) and node_modules/.bin ahead of everything on PATH.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
export PATH="$root/.tools/bin:$root/node_modules/.bin:$PATH"
cd "$root"
exec "$@"
