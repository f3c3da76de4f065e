#!/usr/bin/env bash
# Debian's GStreamer RTSP server stack for the live tests (tests/live/rtsp_server.py runs
# under /usr/bin/python3 with gi): installs the packages with apt-get only when some are
# missing or the import check fails. Quiet; works as root (no sudo needed) or through
# passwordless sudo. Exit 0 when everything is (or now is) present.
#
#   .ci/apt-live.sh           install what is missing
#   .ci/apt-live.sh --check   only check: exit 0 if present, 1 if not (installs nothing)
set -euo pipefail

PACKAGES=(
    gir1.2-gst-rtsp-server-1.0
    python3-gst-1.0
    gstreamer1.0-plugins-base
    gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad
    gstreamer1.0-plugins-ugly
    gstreamer1.0-libav
)

say() { echo "apt-live: $*" >&2; }

missing_packages() {
    local pkg
    for pkg in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            echo "$pkg"
        fi
    done
}

# What rtsp_server.py imports and the elements it links.
import_check() {
    [ -x /usr/bin/python3 ] || return 1
    /usr/bin/python3 - <<'EOF'
import sys
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtsp, GstRtspServer  # noqa: F401
Gst.init(None)
needed = ("filesrc", "parsebin", "qtdemux", "h264parse", "appsrc", "appsink", "rtph264pay")
missing = [e for e in needed if Gst.ElementFactory.find(e) is None]
if missing:
    sys.exit("GStreamer elements missing: " + " ".join(missing))
EOF
}

if ! command -v dpkg-query >/dev/null 2>&1; then
    say "not a Debian/Ubuntu system (no dpkg-query): install GStreamer's RTSP server and"
    say "python3-gi by hand; the live tests skip without them"
    exit 1
fi

mapfile -t missing < <(missing_packages)
if [ "${#missing[@]}" -eq 0 ] && import_check 2>/dev/null; then
    exit 0
fi
if [ "${1:-}" = "--check" ]; then
    say "missing: ${missing[*]:-(packages present, but the import check fails)}"
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    say "need root (or passwordless sudo) to install: ${missing[*]}"
    exit 1
fi

# Reinstall the whole set when the packages are there but the check fails (a broken stack).
to_install=("${missing[@]}")
[ "${#to_install[@]}" -gt 0 ] || to_install=("${PACKAGES[@]}")
say "installing ${to_install[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${to_install[@]}" >/dev/null

if ! import_check; then
    say "installed, but /usr/bin/python3 still cannot load the RTSP server (see above)"
    exit 1
fi
say "ready"
