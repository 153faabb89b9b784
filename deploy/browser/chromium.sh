#!/usr/bin/env bash
# Debian's Chromium for the console's real-browser tests (Playwright drives it
# through executable_path; Playwright's own browser download is never used).
#
#   chromium.sh ensure     install the `chromium` package with apt-get when missing;
#                          prints the browser's path. Quiet and quick when present.
set -euo pipefail

log() { echo "chromium.sh: $*" >&2; }
die() { log "$*"; exit 1; }

BROWSER=${CHROMIUM_PATH:-/usr/bin/chromium}

ensure() {
    if [[ -x $BROWSER ]]; then
        echo "$BROWSER"
        return 0
    fi
    log "Chromium not found at $BROWSER; installing Debian's chromium with apt-get"
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || die "not root and no sudo: install chromium yourself"
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update -qq >&2
    # Fonts: without one, headless pages render (and screenshot) as empty boxes.
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o=Dpkg::Use-Pty=0 \
        --no-install-recommends chromium fonts-dejavu-core >&2
    [[ -x $BROWSER ]] || die "chromium installed but $BROWSER is still missing"
    echo "$BROWSER"
}

case ${1:-} in
    ensure) ensure ;;
    *) sed -n '2,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
