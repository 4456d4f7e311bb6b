#!/usr/bin/env bash
# The main job on an embedded default: installs what is missing, builds, trains small demo models on first start
# (trainer quickstart into artifacts/demo/models) and starts `inspectiond demo`: an in-process MQTT broker on
# 127.0.0.1:1883, a synthetic camera, results on inspection/demo/#, the operator console on http://127.0.0.1:8080/
# (the URL is printed; `--http ADDRESS:PORT` moves it, `--cameras 2` adds a camera). Extra arguments go to `inspectiond demo`.
set -euo pipefail
cd "$(dirname "$0")"
bash build/setup.sh
dotnet build Daemon/Inspection.Daemon.csproj -c Release -nologo -v q
dotnet build Trainer/Inspection.Trainer.csproj -c Release -nologo -v q
models=artifacts/demo/models
daemon=Daemon/bin/Release/net10.0/linux-x64/inspectiond
trainer=Trainer/bin/Release/net10.0/linux-x64/trainer
if [ ! -e "$models/classifier/current" ] || [ ! -e "$models/segmenter/current" ]; then
  echo "run.sh: no demo models in $models yet; training small ones with 'trainer quickstart' (a minute or two on CPU)"
  "$trainer" quickstart --out "$models"
fi
exec "$daemon" demo --models "$models" --data artifacts/demo "$@"
