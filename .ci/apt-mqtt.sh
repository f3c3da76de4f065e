#!/usr/bin/env bash
# Debian's MQTT broker for the MQTT tests (tests/broker.py starts `mosquitto` on a free
# loopback port; `mosquitto_passwd` makes the password file of the auth cases;
# mosquitto-clients gives `mosquitto_sub` for the README's commands). Installs with
# apt-get only what is missing. Quiet; works as root or through passwordless sudo.
#
#   .ci/apt-mqtt.sh           install what is missing
#   .ci/apt-mqtt.sh --check   only check: exit 0 if present, 1 if not (installs nothing)
set -euo pipefail

PACKAGES=(mosquitto mosquitto-clients)

say() { echo "apt-mqtt: $*" >&2; }

present() {
    PATH="$PATH:/usr/sbin:/sbin" command -v mosquitto >/dev/null 2>&1 \
        && command -v mosquitto_passwd >/dev/null 2>&1 \
        && command -v mosquitto_sub >/dev/null 2>&1
}

if present; then
    exit 0
fi
if [ "${1:-}" = "--check" ]; then
    say "missing: mosquitto (and/or mosquitto_passwd, mosquitto_sub)"
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    say "not a Debian/Ubuntu system (no apt-get): install mosquitto by hand; the MQTT"
    say "tests skip without it"
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
# --no-install-recommends; the package's service is not needed (the tests start their own)
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
if ! present; then
    say "installed, but mosquitto is still not found"
    exit 1
fi
say "ready"
