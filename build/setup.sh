#!/usr/bin/env bash
# Installs the OS packages the build, the daemon and the tests need, only when one is missing (idempotent, no
# needless apt-get update). Sourced or run by run.sh and test.sh.
set -euo pipefail
packages=(
  libgtk-3-0          # OpenCvSharp's linux runtime links against GTK 3
  ffmpeg              # test videos and RTSP streams
  rtsp-server-perl    # RTSP relay on loopback: ffmpeg publishes a test stream, the camera tests read it
  mosquitto mosquitto-clients   # a real broker and mosquitto_sub for the end-to-end tests
  systemd             # systemd-analyze verify/security on the unit files
  binutils            # readelf, used by build/patch-torchsharp.sh
  openssl             # test CA and certificates for the TLS tests
  chromium chromium-driver   # a real headless browser for the operator console's page tests (Selenium)
  ca-certificates
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
  # The tests start their own relay on free ports; the package's system service is not wanted.
  $sudo systemctl disable --now rtsp-server-perl >/dev/null 2>&1 || true
fi
command -v dotnet >/dev/null || { echo "setup: the .NET 10 SDK is required (dotnet not on PATH)" >&2; exit 1; }
