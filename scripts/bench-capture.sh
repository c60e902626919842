#!/usr/bin/env bash
# The synthetic studio's filming speed and size: `gspeech capture synth` with
# the default settings (16 cameras, the default face model, voice and
# appearance), filming the first FRAMES frames (default 20) of the default
# take at 512² and 1024², each into a fresh temporary folder, then a
# Markdown table. Images per second count the filming only (speech,
# posing, occlusion and the ring come before it); CPU seconds per image are
# the whole process's user + system time over the images, so they also say
# what more cores would give.
#
#   scripts/bench-capture.sh [GSPEECH]   GSPEECH: a built binary (default: a release build of this tree)
#   FRAMES=40 THREADS=2 scripts/bench-capture.sh
set -euo pipefail
cd "$(dirname "$0")/.."
frames="${FRAMES:-20}"
threads="${THREADS:-$(nproc)}"
if [[ $# -ge 1 ]]; then
  gspeech="$1"
else
  cargo build --release -q -p gspeech
  gspeech="${CARGO_TARGET_DIR:-target}/release/gspeech"
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

echo "Synthetic capture: 16 cameras, the first $frames frames of the default take, $threads threads ($(nproc) cores)"
echo
echo "| resolution | images | filming (s) | images / s | CPU s / image | MB / image (PNG + mask) | default take | default capture, estimated (min) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for resolution in 512 1024; do
  out="$scratch/take-$resolution"
  TIMEFORMAT='%U %S'
  { time RAYON_NUM_THREADS=$threads "$gspeech" capture synth --out "$out" --resolution "$resolution" \
      --frames "$frames" >/dev/null 2>"$scratch/log"; } 2>"$scratch/time"
  python3 - "$resolution" "$out" "$scratch/log" "$scratch/time" <<'PY'
import pathlib, re, sys
resolution, out, log, cpu = sys.argv[1], pathlib.Path(sys.argv[2]), open(sys.argv[3]).read(), open(sys.argv[4]).read()
take = int(re.search(r"the take: .*: (\d+) frames", log).group(1))
images, seconds, rate = re.search(r"filmed (\d+) in ([\d.]+) s, ([\d.]+) images/s", log).groups()
images, seconds, rate = int(images), float(seconds), float(rate)
user, system = map(float, cpu.split())
size = sum(f.stat().st_size for d in ("images", "masks") for f in (out / d).rglob("*.png"))
print(f"| {resolution}² | {images} | {seconds:.1f} | {rate:.1f} | {(user + system) / images:.3f} | "
      f"{size / images / 1e6:.3f} | 16 × {take} frames | {16 * take / rate / 60:.1f} |")
PY
done
