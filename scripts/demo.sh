#!/usr/bin/env bash
# The first command: installs the system packages the build needs (once; see
# setup.sh), then builds the tool and runs the default project. Extra
# arguments go to `gspeech run` (for example `--set speech.path=take.wav`).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo run --release --locked -- run projects/demo/demo.gsgraph "$@"
