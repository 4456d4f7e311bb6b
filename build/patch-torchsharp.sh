#!/usr/bin/env bash
# Makes TorchSharp's libLibTorchSharp.so loadable on systems whose libstdc++ predates GLIBCXX_3.4.32 (Debian 12 has
# 3.4.30). The library lists that version for one symbol, std::ios_base_library_init(), which GCC 13 headers reference
# only to pull in stream initialisation; the library has no relocation against it, so nothing ever calls it and older
# libstdc++ initialises the streams itself. Marking the version requirement weak (VER_FLG_WEAK in .gnu.version_r)
# lets ld.so load the library without it.
#
# usage: patch-torchsharp.sh [--force] FILE     (--force patches even when the system libstdc++ has 3.4.32; for tests)
set -euo pipefail
force=false
if [ "${1:-}" = "--force" ]; then force=true; shift; fi
lib=${1:?usage: patch-torchsharp.sh [--force] path/to/libLibTorchSharp.so}
need=GLIBCXX_3.4.32
[ -f "$lib" ] || { echo "patch-torchsharp: $lib does not exist" >&2; exit 1; }
command -v readelf >/dev/null || { echo "patch-torchsharp: readelf not found (apt-get install binutils)" >&2; exit 1; }

if ! $force; then
  stdcxx=$(ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 .*x86-64/ {print $NF; exit}')
  if [ -n "$stdcxx" ] && grep -qa "$need" "$stdcxx"; then
    exit 0   # the system library is new enough: leave TorchSharp as shipped
  fi
fi

entry=$(readelf -V "$lib" | grep -E "Name: $need +Flags:" || true)
[ -n "$entry" ] || exit 0                       # this build of the library does not ask for it
case "$entry" in *WEAK*) exit 0;; esac          # already patched

# Refuse to patch when something would actually call into the missing version.
if readelf -rW "$lib" | grep -q "@$need"; then
  echo "patch-torchsharp: $lib has relocations against $need symbols; weakening the version is not safe" >&2
  exit 1
fi

section=$(readelf -SW "$lib" | sed -n 's/.*\.gnu\.version_r  *[A-Z_]*  *[0-9a-f]*  *\([0-9a-f]*\) .*/\1/p')
rel=$(echo "$entry" | awk '{print $1}' | tr -d ':')
[ -n "$section" ] && [ -n "$rel" ] || { echo "patch-torchsharp: cannot locate .gnu.version_r in $lib" >&2; exit 1; }
# Elf64_Vernaux: vna_hash (4 bytes), then vna_flags (2 bytes, little-endian).
offset=$(( 0x$section + rel + 4 ))
printf '\x02' | dd of="$lib" bs=1 seek="$offset" conv=notrunc status=none
readelf -V "$lib" | grep -qE "Name: $need +Flags: WEAK" || { echo "patch-torchsharp: patch did not take in $lib" >&2; exit 1; }
echo "patch-torchsharp: marked $need weak in $lib (system libstdc++ lacks it)"
