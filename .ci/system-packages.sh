#!/usr/bin/env bash
# Installs the Debian packages the tests use (listed in .ci/system-packages.txt), only those not yet installed.
# Runs as root (CI and these machines); elsewhere it prints what to install and carries on, and the tests that need
# a missing package skip with a reason naming it.
set -euo pipefail
cd "$(dirname "$0")"
missing=()
while read -r pkg _; do
    [[ -z "$pkg" || "$pkg" == \#* ]] && continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done < system-packages.txt
[[ ${#missing[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "system-packages: please install ${missing[*]} (tests that need them will skip)" >&2
    exit 0
fi
echo "system-packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
