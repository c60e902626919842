#!/usr/bin/env bash
# Installs the Debian packages GaussianSpeech Studio needs, and only those that
# are missing. Safe to run again: it does nothing when everything is present.
#
#   gcc, libc6-dev       the C compiler: C dependencies, and the C plugin tests
#   g++                  the C++ compiler: the bundled OpenH264 and FDK AAC sources
#   nasm                 OpenH264's x86 SIMD assembly (without it the encoder builds from C only, slower)
#   mesa-vulkan-drivers  software Vulkan (lavapipe), so wgpu runs without a GPU
#   xvfb, xauth          a virtual display for the editor's tests (xvfb-run needs xauth)
#   ffmpeg               ffprobe/ffmpeg, the independent readers of exported videos
#   cmake, pkg-config    native parts of some dependencies (libopus is built with CMake)
#   espeak-ng            speech with phoneme timings for the synthetic capture factory
#   flite                a second speech engine for it (its voices' libraries, libflite1)
#   libpocketsphinx3, pocketsphinx-en-us
#                        PocketSphinx and its US English model: forced alignment of recorded speech
#   libasound2-dev       ALSA headers: the editor plays audio previews through cpal
#   libx11-xcb1, libxcursor1, libxrandr2, libxi6, libxkbcommon-x11-0
#                        X11 libraries the editor window loads at run time
set -euo pipefail

packages=(gcc g++ libc6-dev nasm mesa-vulkan-drivers xvfb xauth ffmpeg cmake pkg-config espeak-ng libespeak-ng-dev flite
  libpocketsphinx3 pocketsphinx-en-us
  libasound2-dev libx11-xcb1 libxcursor1 libxrandr2 libxi6 libxkbcommon-x11-0)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all system packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
