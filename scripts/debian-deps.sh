#!/usr/bin/env bash
# Make sure the Debian packages named as arguments (each package installs the command of its
# name) are installed. Installing needs root: as root, apt-get installs what is missing; as anyone
# else, nothing is installed and the message says exactly what to run (exit 1).
set -euo pipefail

missing=()
for package in "$@"; do
  command -v "$package" >/dev/null || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "missing Debian packages: ${missing[*]}; installing them needs root:" >&2
  echo "  sudo apt-get install --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
