#!/usr/bin/env bash
# Installs inspectiond and trainer as systemd services on this machine (docs/deployment.md), or removes them.
#
#   systemd/install.sh [--gpu] [-c Debug|Release] [--no-build]     install or upgrade (idempotent; run as root)
#   systemd/install.sh --uninstall [--purge]                       remove; --purge also removes config, data, user
#   --prefix DIR   work on DIR as the file-system root (packaging, tests): no systemctl, the user goes to DIR/etc/passwd
#   --dry-run      print every command that would change something, change nothing
#
# What goes where:
#   /opt/inspection/{inspectiond,trainer}/    framework-dependent publish output (root-owned, read-only to the service)
#   /usr/local/bin/{inspectiond,trainer}      links for operators
#   /usr/local/lib/systemd/system/            inspectiond.service, inspection-trainer.{service,timer,path}, + drop-ins
#   /usr/local/lib/{sysusers,tmpfiles}.d/     the `inspection` user; folders, owners, modes
#   /etc/inspection/inspection.json           from Config/inspection.example.json, only when absent
#   /etc/inspection/credentials/mqtt-password created empty when absent (LoadCredential= source)
#   /var/lib/inspection/…                     models, outbox, snapshots, data, requests, trainer (kept by --uninstall)
set -euo pipefail
umask 022

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix="" dry=0 mode=install purge=0 gpu=false configuration=Release no_build=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$(realpath -m "${2:?--prefix needs a folder}"); shift ;;
    --prefix=*) prefix=$(realpath -m "${1#*=}") ;;
    --dry-run) dry=1 ;;
    --uninstall) mode=uninstall ;;
    --purge) purge=1 ;;
    --gpu) gpu=true ;;
    -c|--configuration) configuration=${2:?$1 needs a value}; shift ;;
    --no-build) no_build=1 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ "$prefix" = / ] && prefix=""
if [ "$purge" = 1 ] && [ "$mode" != uninstall ]; then echo "install.sh: --purge goes with --uninstall" >&2; exit 2; fi
if [ -z "$prefix" ] && [ "$dry" = 0 ] && [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (or use --prefix DIR / --dry-run)" >&2; exit 1
fi

opt=$prefix/opt/inspection
bin=$prefix/usr/local/bin
units=$prefix/usr/local/lib/systemd/system
sysusers=$prefix/usr/local/lib/sysusers.d/inspection.conf
tmpfiles=$prefix/usr/local/lib/tmpfiles.d/inspection.conf
etc=$prefix/etc/inspection
state=$prefix/var/lib/inspection
unit_files=(inspectiond.service inspection-trainer.service inspection-trainer.timer inspection-trainer.path)
apps=(inspectiond trainer)
declare -A project=([inspectiond]=Daemon/Inspection.Daemon.csproj [trainer]=Trainer/Inspection.Trainer.csproj)
root_args=()
[ -n "$prefix" ] && root_args=(--root="$prefix")

# Every change goes through run, so --dry-run shows exactly what a real run would do.
run() {
  if [ "$dry" = 1 ]; then printf '+'; printf ' %q' "$@"; printf '\n'; else "$@"; fi
}
say() { echo "install.sh: $*"; }
# systemctl only on the real root: under --prefix there is no running systemd to talk to.
systemctl_() { if [ -z "$prefix" ]; then run systemctl "$@"; fi; }

# The services find the runtime through DOTNET_ROOT (a drop-in), so any system-wide .NET install works. One under a
# home folder does not: ProtectHome= hides it from the services.
dotnet_root() {
  local dotnet
  dotnet=$(command -v dotnet) || { echo "install.sh: the .NET 10 SDK is required (dotnet not on PATH)" >&2; exit 1; }
  dotnet=$(dirname "$(readlink -f "$dotnet")")
  case "$dotnet" in
    /home/*|/root/*) echo "install.sh: .NET is installed under $dotnet, which ProtectHome= hides from the services; install it system-wide (e.g. /usr/share/dotnet)" >&2; exit 1 ;;
  esac
  dotnet --list-runtimes | grep -q '^Microsoft.NETCore.App 10\.' || { echo "install.sh: the .NET 10 runtime (Microsoft.NETCore.App 10.x) is missing" >&2; exit 1; }
  echo "$dotnet"
}

install_binaries() {
  local stage=$opt/.staging app args
  run rm -rf "$stage"
  run mkdir -p "$stage"
  for app in "${apps[@]}"; do
    args=(publish "$repo/${project[$app]}" -c "$configuration" -p:Gpu="$gpu" --self-contained false -o "$stage/$app" -nologo -v q)
    [ "$no_build" = 1 ] && args+=(--no-build)
    say "publishing $app ($configuration, framework-dependent, Gpu=$gpu)"
    run dotnet "${args[@]}"
  done
  # Swap whole folders, so a folder never mixes two versions' files.
  for app in "${apps[@]}"; do
    if [ -e "$opt/$app" ]; then run mv "$opt/$app" "$stage/$app.old"; fi
    run mv "$stage/$app" "$opt/$app"
  done
  run rm -rf "$stage"
  run mkdir -p "$bin"
  for app in "${apps[@]}"; do
    run ln -sfn "/opt/inspection/$app/$app" "$bin/$app"
  done
}

install_units() {
  local root=$1 unit
  run mkdir -p "$units" "$(dirname "$sysusers")" "$(dirname "$tmpfiles")"
  for unit in "${unit_files[@]}"; do
    run install -m 0644 "$repo/systemd/$unit" "$units/$unit"
  done
  for unit in inspectiond.service inspection-trainer.service; do
    run mkdir -p "$units/$unit.d"
    if [ "$dry" = 1 ]; then
      echo "+ write $units/$unit.d/10-dotnet.conf (Environment=DOTNET_ROOT=$root)"
    else
      printf '# Written by install.sh: where the .NET runtime is (framework-dependent publish).\n[Service]\nEnvironment=DOTNET_ROOT=%s\n' "$root" \
        > "$units/$unit.d/10-dotnet.conf"
    fi
  done
  run install -m 0644 "$repo/systemd/inspection.sysusers.conf" "$sysusers"
  run install -m 0644 "$repo/systemd/inspection.tmpfiles.conf" "$tmpfiles"
}

do_install() {
  local root
  root=$(dotnet_root)
  install_binaries
  install_units "$root"
  say "creating the user and folders"
  run systemd-sysusers "${root_args[@]}" "$sysusers"
  run mkdir -p "$etc"
  if [ -e "$etc/inspection.json" ]; then
    say "keeping the existing $etc/inspection.json"
  else
    run install -m 0640 "$repo/Config/inspection.example.json" "$etc/inspection.json"
  fi
  run systemd-tmpfiles --create "${root_args[@]}" "$tmpfiles"

  # The installed binary checks the installed config (and proves it finds the runtime).
  local config_ok=1
  if [ "$dry" = 0 ]; then
    if DOTNET_ROOT=$root "$opt/inspectiond/inspectiond" check-config --config "$etc/inspection.json" > /dev/null; then
      say "config $etc/inspection.json is valid"
    else
      config_ok=0
      say "WARNING: $etc/inspection.json does not validate (see above); fix it before starting inspectiond"
    fi
  fi

  systemctl_ daemon-reload
  systemctl_ enable inspectiond.service inspection-trainer.timer inspection-trainer.path
  systemctl_ start inspection-trainer.timer inspection-trainer.path
  if [ -z "$prefix" ] && [ "$dry" = 0 ]; then
    if systemctl is-active --quiet inspectiond.service; then
      if [ "$config_ok" = 1 ]; then run systemctl restart inspectiond.service; say "inspectiond restarted on the new version"; fi
    else
      say "edit $etc/inspection.json, then: systemctl start inspectiond"
    fi
  fi
  say "installed into ${prefix:-/}"
}

do_uninstall() {
  local unit app
  systemctl_ disable --now inspectiond.service inspection-trainer.timer inspection-trainer.path || true
  systemctl_ stop inspection-trainer.service || true
  for unit in "${unit_files[@]}"; do
    run rm -f "$units/$unit"
  done
  run rm -rf "$units/inspectiond.service.d" "$units/inspection-trainer.service.d"
  systemctl_ daemon-reload
  for app in "${apps[@]}"; do
    run rm -f "$bin/$app"
  done
  run rm -rf "$opt"
  run rm -f "$sysusers" "$tmpfiles"
  if [ "$purge" = 1 ]; then
    run rm -rf "$etc" "$state"
    local prefix_args=()
    [ -n "$prefix" ] && prefix_args=(--prefix "$prefix")
    if grep -q '^inspection-trainer:' "$prefix/etc/passwd" 2>/dev/null; then run userdel "${prefix_args[@]}" inspection-trainer; fi
    if grep -q '^inspection:' "$prefix/etc/passwd" 2>/dev/null; then run userdel "${prefix_args[@]}" inspection; fi
    # userdel leaves the group where login.defs does not say USERGROUPS_ENAB (e.g. in a bare --prefix root).
    if grep -q '^inspection:' "$prefix/etc/group" 2>/dev/null; then run groupdel "${prefix_args[@]}" inspection; fi
    say "removed with config, data and the inspection users"
  else
    say "removed; kept $etc and $state (models, outbox, snapshots, data) and the inspection user (--purge removes them)"
  fi
  # Search folders of systemd that install created and that are now empty (they need not exist); never /usr/local/bin.
  local dir
  for dir in "$units" "$(dirname "$units")" "$(dirname "$sysusers")" "$(dirname "$tmpfiles")"; do
    if [ -d "$dir" ] && [ -z "$(ls -A "$dir")" ]; then run rmdir "$dir"; fi
  done
}

if [ "$mode" = install ]; then do_install; else do_uninstall; fi
