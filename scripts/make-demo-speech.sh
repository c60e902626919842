#!/usr/bin/env bash
# Remakes the default project's speech, projects/demo/speech.wav, and its
# phoneme timings, projects/demo/speech.json, with the capture factory: a
# sentence that is not in the training corpus, rich in /p b m/, spoken by the
# voice the default model holds out of training (eSpeak NG, Scottish English).
#
#   scripts/make-demo-speech.sh [GSPEECH]   GSPEECH: the binary (default: cargo run --release --)
set -euo pipefail
cd "$(dirname "$0")/.."
gspeech=(${1:-cargo run --release --quiet --})
sentence="Maybe Bob and Pam will bring a big map to the pub by May."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
printf '%s\n' "$sentence" > "$work/corpus.txt"
"${gspeech[@]}" dataset synth --out "$work/data" --corpus "$work/corpus.txt" --voices en-gb-scotland+f3 \
  --held-out-voice "" --regions face --param voices_per_sentence=1 --param rate_jitter=0 --param pitch_jitter=0
sequence=$(ls -d "$work"/data/sequences/*/ | head -1)
cp "$sequence/audio.wav" projects/demo/speech.wav
python3 - "$sequence/meta.json" projects/demo/speech.json <<'PY'
import json, sys
meta = json.load(open(sys.argv[1]))
keep = {"text": meta["sentence"]["text"], "voice": meta["voice"], "seconds": meta["seconds"],
        "sample_rate": meta["sample_rate"], "phonemes": meta["phonemes"]}
json.dump(keep, open(sys.argv[2], "w"), indent=1)
open(sys.argv[2], "a").write("\n")
PY
echo "wrote projects/demo/speech.wav and projects/demo/speech.json: $sentence"
