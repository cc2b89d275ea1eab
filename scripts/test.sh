#!/usr/bin/env bash
# Every test on a fresh Debian machine: installs what is missing, builds, then runs
# the C unit tests (plain, ASan+UBSan, valgrind), the fuzzers for a bounded time,
# the pytest suite, and the pytest suite again against an ASan+UBSan build.
# Env: FUZZ_SECONDS (default 10), AICACHE_SKIP_ASAN_PYTEST=1 to skip the last step.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
export AICACHE_WERROR=1
aicache_bootstrap "test,dev" redis-server redis-sentinel redis-tools clang libclang-rt-14-dev \
    clang-format valgrind openssl libisal-dev libdeflate-dev

echo "== C unit tests (plain, asan+ubsan, valgrind)"
make -s ctest
make -s ctest-asan
make -s ctest-valgrind
echo "== fuzzers (${FUZZ_SECONDS:-10}s each)"
make -s fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-10}"

echo "== pytest"
python -m pytest -q

echo "== fault soak (${SOAK_SECONDS:-20}s: kill -9, SIGSTOP, CLIENT KILL, partitions under load)"
python -m benchmarks soak --seconds "${SOAK_SECONDS:-20}"

if [ -z "${AICACHE_SKIP_ASAN_PYTEST:-}" ]; then
    echo "== pytest against an ASan+UBSan build of the extension"
    AICACHE_SANITIZE=1 python setup.py -q build_ext --inplace --force \
        --build-temp build/asan-temp >/dev/null
    restore() { python setup.py -q build_ext --inplace --force >/dev/null 2>&1; }
    trap restore EXIT
    PYTHONMALLOC=malloc ASAN_OPTIONS=detect_leaks=0 \
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
        AICACHE_EXPECT_DEBUG_BUILD=1 python -m pytest -q -p no:cacheprovider -m "not heavy"
fi
