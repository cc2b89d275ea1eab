#!/usr/bin/env bash
# The main job on a fresh Debian machine: installs what is missing, then runs the
# demo (python -m aicache.demo), which uses the embedded memory backend.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
aicache_bootstrap "fastapi"
python -m aicache.demo "$@"
