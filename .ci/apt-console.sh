#!/usr/bin/env bash
# Debian's chromium for the console's browser test (tests/console/test_browser.py drives
# /usr/bin/chromium through Playwright; nothing is downloaded at run time). Installs it with
# apt-get only when missing. Quiet; works as root or through passwordless sudo.
#
#   .ci/apt-console.sh           install what is missing
#   .ci/apt-console.sh --check   only check: exit 0 if present, 1 if not (installs nothing)
set -euo pipefail

PACKAGES=(chromium)

say() { echo "apt-console: $*" >&2; }

if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "${1:-}" = "--check" ]; then
    say "missing: /usr/bin/chromium (${PACKAGES[*]})"
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    say "not a Debian/Ubuntu system: install chromium by hand; the browser test skips without it"
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    say "need root (or passwordless sudo) to install: ${PACKAGES[*]}"
    exit 1
fi
say "installing ${PACKAGES[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
[ -x /usr/bin/chromium ] || { say "installed, but /usr/bin/chromium is not there"; exit 1; }
say "ready"
