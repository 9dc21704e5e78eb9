#!/usr/bin/env bash
# scripts/lib/binaries.sh - sourced by scripts/dist.sh and scripts/pick-binaries.sh: what a
# deployable utizmon binary is. The VMs and the Debian packages are Linux x86_64, so a binary
# is only deployable when its ELF header says so; a macOS Mach-O or a Windows .exe built by
# `cargo build` on the controller never passes, whatever its name.

UTIZMON_BINARIES=(utizmon-server utizmon-edge)

# elf_kind FILE: prints "linux-x86_64" for a 64-bit little-endian x86-64 ELF executable,
# otherwise a short description of what FILE is (missing, not ELF, other machine).
elf_kind() {
  local f=$1 magic class data machine
  [ -f "$f" ] || { echo "missing"; return; }
  magic=$(od -An -tx1 -N4 "$f" | tr -d ' \n')
  case "$magic" in
    7f454c46) ;;
    cffaedfe | cefaedfe | cafebabe) echo "a macOS (Mach-O) binary"; return ;;
    4d5a*) echo "a Windows (PE) binary"; return ;;
    *) echo "not an ELF binary"; return ;;
  esac
  class=$(od -An -tu1 -j4 -N1 "$f" | tr -d ' ')
  data=$(od -An -tu1 -j5 -N1 "$f" | tr -d ' ')
  # e_machine, little-endian u16 at offset 18: 62 is EM_X86_64 (bytes, as BSD od has no --endian)
  local lo hi
  read -r lo hi < <(od -An -tu1 -j18 -N2 "$f")
  machine=$((lo + 256 * hi))
  if [ "$class" = 2 ] && [ "$data" = 1 ] && [ "$machine" = 62 ]; then
    echo "linux-x86_64"
  else
    echo "an ELF binary for another architecture (class $class, machine $machine)"
  fi
}

# deployable_dir DIR: true when DIR holds both binaries as Linux x86_64 ELF executables;
# otherwise prints why not (one line) and returns 1.
deployable_dir() {
  local dir=$1 b kind
  for b in "${UTIZMON_BINARIES[@]}"; do
    kind=$(elf_kind "$dir/$b")
    if [ "$kind" != linux-x86_64 ]; then
      echo "$dir/$b is $kind, not a Linux x86_64 executable"
      return 1
    fi
    [ -x "$dir/$b" ] || { echo "$dir/$b is not executable"; return 1; }
  done
}
