#!/usr/bin/env bash
# The live-test packages (Debian's GStreamer RTSP server): .ci/apt.sh's "live" group.
# Kept for old command lines; see .ci/apt.sh (options: --check).
set -euo pipefail
if [ "${1:-}" = "--check" ]; then
    exec bash "$(dirname "$0")/apt.sh" --check live
fi
exec bash "$(dirname "$0")/apt.sh" live
