#!/usr/bin/env bash
# Decode speed of a 1080p H.264 file: `inspectiond probe` (OpenCV's bundled FFmpeg through the capture loop) against
# `ffmpeg -benchmark` (Debian's ffmpeg) on the same file. Prints wall-clock fps and CPU seconds for each.
# Usage: build/bench-camera.sh [frames]   (default 600; run it on an otherwise idle machine for stable figures)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
frames="${1:-600}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
video="$dir/1080p.mp4"

echo "making $frames frames of 1920x1080 H.264 (testsrc2, x264 preset fast, yuv420p)"
ffmpeg -y -v error -f lavfi -i "testsrc2=size=1920x1080:rate=30" -frames:v "$frames" -c:v libx264 -preset fast -pix_fmt yuv420p "$video"
dotnet build "$root/Daemon" -c Release -nologo -v q >/dev/null
dll="$root/Daemon/bin/Release/net10.0/linux-x64/inspectiond.dll"
TIMEFORMAT="cpu: user %U s, sys %S s, wall %R s"

echo
echo "== inspectiond probe --source file://…/1080p.mp4 --frames $frames"
time dotnet "$dll" probe --source "file://$video" --frames "$frames"

bench() {
  local out
  out="$(ffmpeg -hide_banner -nostdin -benchmark -i "$video" "$@" -f null - 2>&1 | grep 'bench: utime')"
  echo "$out"
  echo "$out" | awk -v n="$frames" '{ for (i = 1; i <= NF; i++) if ($i ~ /^rtime=/) { sub("rtime=", "", $i); sub("s", "", $i); printf "fps: %.1f\n", n / $i } }'
}
echo
echo "== ffmpeg -benchmark -i 1080p.mp4 -f null -   (decode only, frames stay yuv420p)"
bench
echo
echo "== ffmpeg -benchmark -i 1080p.mp4 -pix_fmt bgr24 -f null -   (decode + conversion to OpenCV's BGR, like probe)"
bench -pix_fmt bgr24
echo
echo "machine: $(nproc) cores, $(uptime | sed 's/.*load average/load average/')"
