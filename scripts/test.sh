#!/usr/bin/env bash
# The test command: installs the system packages the tests need (once), then
# runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo test --workspace --locked "$@"
