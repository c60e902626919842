#!/usr/bin/env bash
# Wav2Vec 2.0, this implementation (candle) against PyTorch, in one run: the
# facebook/wav2vec2-base-960h architecture with random weights, on 10 s and
# 60 s of audio, same thread count, each case in a process of its own so its
# peak memory is its own.
#
#   scripts/bench-wav2vec2.sh [PYTHON]   PYTHON has torch and transformers
#                                        (default: python3)
set -euo pipefail
cd "$(dirname "$0")/.."
python="${1:-python3}"
threads="${THREADS:-$(nproc)}"
model="$(mktemp -d)/wav2vec2-base-random"
trap 'rm -rf "$(dirname "$model")"' EXIT

"$python" scripts/wav2vec2_torch_bench.py make "$model"
cargo bench -p gspeech-nodes --bench wav2vec2 --no-run -q 2>/dev/null

echo "Wav2Vec 2.0 base (95M parameters, random weights), $threads threads, median of 5 forward passes"
echo
echo "| audio | PyTorch (s) | candle (s) | candle / PyTorch time | PyTorch peak (MiB) | candle peak (MiB) |"
echo "|---:|---:|---:|---:|---:|---:|"
for seconds in 10 60; do
  torch_json=$(OMP_NUM_THREADS=$threads "$python" scripts/wav2vec2_torch_bench.py run "$model" "$seconds" "$threads")
  candle_json=$(RAYON_NUM_THREADS=$threads cargo bench -q -p gspeech-nodes --bench wav2vec2 -- "$model" "$seconds" 2>/dev/null | tail -1)
  "$python" - "$seconds" "$torch_json" "$candle_json" <<'PY'
import json, sys
s, t, c = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(f"| {s} s | {t['time_s']:.2f} | {c['time_s']:.2f} | {c['time_s'] / t['time_s']:.2f} | {t['peak_mib']:.0f} | {c['peak_mib']:.0f} |")
PY
done
