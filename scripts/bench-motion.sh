#!/usr/bin/env bash
# The motion model, this implementation (candle) against the independent
# PyTorch one (scripts/motion_torch.py), in one run: the default model's size
# on the default face model, random weights, same thread count, each case in
# a process of its own so its peak memory is its own.
#
#   scripts/bench-motion.sh [PYTHON]   PYTHON has torch (default: python3)
set -euo pipefail
cd "$(dirname "$0")/.."
python="${1:-python3}"
threads="${THREADS:-$(nproc)}"
cargo bench -p gspeech-nodes --bench motion --no-run -q 2>/dev/null
candle() { RAYON_NUM_THREADS=$threads cargo bench -q -p gspeech-nodes --bench motion -- "$@" 2>/dev/null | tail -1; }

step_candle=$(candle step)
moved=$("$python" -c 'import json, sys; print(json.loads(sys.argv[1])["moved"])' "$step_candle")
torch() { MOVED=$moved OMP_NUM_THREADS=$threads "$python" scripts/motion_torch_bench.py "$@" "$threads"; }
step_torch=$(torch step)

echo "Motion model (default size: hidden 64, $moved moved vertices), random weights, $threads threads"
echo
echo "| case | PyTorch (s) | candle (s) | candle / PyTorch time | real time × (candle) | PyTorch peak (MiB) | candle peak (MiB) |"
echo "|---|---:|---:|---:|---:|---:|---:|"
row() {
  "$python" - "$@" <<'PY'
import json, sys
name, seconds, t, c = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
speed = f"{seconds / c['time_s']:.0f}" if seconds else "-"
print(f"| {name} | {t['time_s']:.3f} | {c['time_s']:.3f} | {c['time_s'] / t['time_s']:.2f} | {speed} | {t['peak_mib']:.0f} | {c['peak_mib']:.0f} |")
PY
}
row "training step (16 × 100 frames)" 0 "$step_torch" "$step_candle"
for seconds in 10 60; do
  row "inference, $seconds s of speech" "$seconds" "$(torch infer "$seconds")" "$(candle infer "$seconds")"
done
