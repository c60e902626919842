#!/usr/bin/env bash
# Real recorded speech with transcripts, for trying forced alignment: the
# English prompts of Asterisk (Debian's asterisk-core-sounds-en-g722 for the
# audio, asterisk-core-sounds-en for the transcripts; one speaker, Allison
# Smith, CC-BY-SA-3.0) as 16 kHz mono 16-bit WAV files, each with NAME.txt
# beside it holding what is said.
#
#   scripts/asterisk-recordings.sh OUT_DIR
#
# Transcripts are cleaned: notes in brackets or parentheses are removed, and
# a digit standing alone becomes its word ("press 1" -> "press one"). A
# prompt is skipped, and counted by reason, when it has no recording, no
# words besides notes, a longer number (its spoken form is ambiguous: "1234"
# may be "one two three four" or "twelve thirty-four"), or a character that
# is not spoken as written (# * @ / and the like).
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
out=$1
sounds=/usr/share/asterisk/sounds/en
transcripts=/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz
[ -d "$sounds" ] || { echo "no $sounds: apt install asterisk-core-sounds-en-g722" >&2; exit 1; }
[ -f "$transcripts" ] || { echo "no $transcripts: apt install asterisk-core-sounds-en" >&2; exit 1; }
command -v ffmpeg >/dev/null || { echo "no ffmpeg: apt install ffmpeg" >&2; exit 1; }
mkdir -p "$out"

digits=(zero one two three four five six seven eight nine)
written=0
bytes=0
declare -A skipped=()

while IFS= read -r line; do
  case "$line" in ''|';'*) continue ;; esac
  name=${line%%:*}
  text=${line#*:}
  # Notes in brackets or parentheses are not said.
  text=$(sed -E 's/\[[^]]*\]//g; s/\([^)]*\)//g; s/[[:space:]]+/ /g; s/^ //; s/ $//' <<<"$text")
  for d in 0 1 2 3 4 5 6 7 8 9; do
    text=$(sed -E "s/(^|[^[:alnum:].])$d([^[:alnum:].]|\$)/\1${digits[$d]}\2/g" <<<"$text")
  done
  if [ ! -f "$sounds/$name.g722" ]; then
    skipped["no recording"]=$(( ${skipped["no recording"]:-0} + 1 ))
    continue
  fi
  if ! grep -q '[[:alpha:]]' <<<"$text"; then
    skipped["only a note, no words"]=$(( ${skipped["only a note, no words"]:-0} + 1 ))
    continue
  fi
  if grep -q '[0-9]' <<<"$text"; then
    skipped["a number whose spoken form is ambiguous"]=$(( ${skipped["a number whose spoken form is ambiguous"]:-0} + 1 ))
    continue
  fi
  if grep -q "[^[:alpha:][:space:]'.,?!;:\"-]" <<<"$text"; then
    skipped["a character not spoken as written"]=$(( ${skipped["a character not spoken as written"]:-0} + 1 ))
    continue
  fi
  mkdir -p "$(dirname "$out/$name")"
  ffmpeg -nostdin -loglevel error -y -i "$sounds/$name.g722" -ar 16000 -ac 1 -c:a pcm_s16le "$out/$name.wav"
  printf '%s\n' "$text" >"$out/$name.txt"
  # 16-bit mono at 16 kHz after a 44-byte header.
  bytes=$(( bytes + $(stat -c %s "$out/$name.wav") - 44 ))
  written=$(( written + 1 ))
done < <(zcat "$transcripts")

cat >"$out/README.txt" <<'CREDIT'
Asterisk core sound prompts (English), spoken by Allison Smith for Digium, Inc.
Licence: Creative Commons Attribution-Share Alike 3.0 Unported (CC-BY-SA-3.0),
https://creativecommons.org/licenses/by-sa/3.0/
Source: Debian's asterisk-core-sounds-en-g722 (audio) and asterisk-core-sounds-en
(transcripts, core-sounds-en.txt), converted from G.722 to 16 kHz mono 16-bit WAV;
transcripts cleaned of notes in brackets, single digits written out as words.
CREDIT

seconds=$(( bytes / 32000 ))
echo "asterisk-recordings: $written recordings, about $(( seconds / 60 )) min $(( seconds % 60 )) s, in $out"
for reason in "${!skipped[@]}"; do
  echo "asterisk-recordings: skipped ${skipped[$reason]}: $reason"
done
