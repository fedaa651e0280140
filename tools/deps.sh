#!/usr/bin/env bash
# deps.sh PKG... - installs the Debian packages that are not installed yet
# (with sudo when not root). Prints nothing when all are present.
set -eu
missing=()
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq || { echo "deps: apt-get update failed; are the Debian mirrors reachable?" >&2; exit 1; }
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null || { echo "deps: apt-get install ${missing[*]} failed" >&2; exit 1; }
