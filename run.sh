#!/usr/bin/env bash
# The main job on an embedded default: installs what is missing, builds, and starts inspectiond's demo (in-process
# MQTT broker on 127.0.0.1:1883, a synthetic camera, models trained on first start if none exist).
set -euo pipefail
cd "$(dirname "$0")"
bash build/setup.sh
dotnet build Daemon/Inspection.Daemon.csproj -c Release -nologo -v q
exec Daemon/bin/Release/net10.0/linux-x64/inspectiond check-config --config Config/inspection.example.json "$@"
