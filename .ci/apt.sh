#!/usr/bin/env bash
# Debian packages some tests need, by group: .ci/apt/GROUP.list names the packages (one a
# line) and the optional executable .ci/apt/GROUP.check says whether they work (exit 0).
# Installs with apt-get only what is missing, as root or through passwordless sudo.
#
#   .ci/apt.sh [GROUP ...]          every group by default (each .ci/apt/*.list)
#   .ci/apt.sh --check [GROUP ...]  only check: exit 0 if all present, 1 if not
#
# Never fails the test command for want of root: without root (or sudo -n), or off
# Debian, it says what is missing and exits 0, and the tests that need those packages
# skip with the reason. It fails (exit 1) only when an install it attempted did not work.
# To add a group: write .ci/apt/GROUP.list (and GROUP.check if a package list is not
# proof enough); nothing else changes (.ci/run and the README call it without groups).
set -euo pipefail
cd "$(dirname "$0")"

CHECK_ONLY=0
if [ "${1:-}" = "--check" ]; then CHECK_ONLY=1; shift; fi
if [ "$#" -eq 0 ]; then
    set -- $(for f in apt/*.list; do basename "$f" .list; done)
fi

say() { echo "apt: $*" >&2; }

packages() {  # the packages of group $1
    sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "apt/$1.list"
}

missing_packages() {  # those of group $1 that dpkg does not have installed
    local pkg
    for pkg in $(packages "$1"); do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            echo "$pkg"
        fi
    done
}

works() {  # group $1's check passes (or it has none)
    [ ! -e "apt/$1.check" ] || bash "apt/$1.check" >/dev/null 2>&1
}

for group in "$@"; do
    [ -f "apt/$group.list" ] || { say "no group '$group' (no .ci/apt/$group.list)"; exit 2; }
done

if ! command -v dpkg-query >/dev/null 2>&1; then
    say "not a Debian/Ubuntu system: install the packages of .ci/apt/{$*}.list by hand;"
    say "skipping (the tests that need them skip with the reason)"
    [ "$CHECK_ONLY" -eq 1 ] && exit 1
    exit 0
fi

wanted=()   # packages to install, over all groups
broken=()   # groups to reinstall whole: packages present but the check fails
for group in "$@"; do
    mapfile -t missing < <(missing_packages "$group")
    if [ "${#missing[@]}" -eq 0 ] && works "$group"; then
        say "$group: already present, nothing to install"
        continue
    fi
    if [ "${#missing[@]}" -eq 0 ]; then
        say "$group: packages present but its check fails (.ci/apt/$group.check)"
        broken+=("$group")
        mapfile -t missing < <(packages "$group")
    else
        say "$group: missing ${missing[*]}"
    fi
    wanted+=("${missing[@]}")
done

[ "${#wanted[@]}" -eq 0 ] && exit 0
[ "$CHECK_ONLY" -eq 1 ] && exit 1

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    say "not root (and no passwordless sudo): skipping the install of ${wanted[*]};"
    say "the tests that need them skip with the reason (run this as root to get them)"
    exit 0
fi

say "installing ${wanted[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null

status=0
for group in "$@"; do
    if ! works "$group"; then
        say "$group: installed, but its check still fails:"
        bash "apt/$group.check" || true
        status=1
    fi
done
[ "$status" -eq 0 ] && say "ready"
exit "$status"
