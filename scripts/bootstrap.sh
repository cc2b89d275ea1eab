#!/usr/bin/env bash
# Sourced by scripts/test.sh and scripts/demo.sh: installs what a fresh Debian
# machine lacks (system packages, a .venv with the package and its extras).
# Usage: source scripts/bootstrap.sh; aicache_bootstrap "<extras>" [apt packages...]
set -euo pipefail

AICACHE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AICACHE_VENV="${AICACHE_VENV:-$AICACHE_ROOT/.venv}"

aicache_apt() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "== installing system packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

aicache_bootstrap() {
    local extras="$1"
    shift
    aicache_apt build-essential pkg-config zlib1g-dev libssl-dev python3-dev "$@"
    local py="${PYTHON:-python3}"
    if [ ! -x "$AICACHE_VENV/bin/python" ]; then
        echo "== creating $AICACHE_VENV"
        "$py" -m venv "$AICACHE_VENV" || {
            aicache_apt python3-venv
            "$py" -m venv "$AICACHE_VENV"
        }
    fi
    # shellcheck disable=SC1091
    source "$AICACHE_VENV/bin/activate"
    cd "$AICACHE_ROOT"
    echo "== installing aicache[$extras] into $AICACHE_VENV"
    python -m pip install -q --upgrade pip setuptools wheel
    python -m pip install -q -e ".[$extras]"
    # The editable install builds the extension; build it in place too so that
    # python/aicache/_core*.so matches csrc/ exactly (same toggles as the tests).
    python setup.py -q build_ext --inplace >/dev/null
}
