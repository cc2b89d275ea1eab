# C unit tests, sanitizer/valgrind runs and fuzzers for the pure-C core.
# The Python extension is built by setup.py; this file never needs Python.
#
#   make ctest           tests/c/test_*.c, plain build
#   make ctest-asan      same, -fsanitize=address,undefined
#   make ctest-valgrind  plain build under valgrind --leak-check=full
#   make fuzz            each tests/fuzz/fuzz_*.c for FUZZ_SECONDS (default 15) with libFuzzer
#   make format-check    clang-format --dry-run -Werror on csrc/ tests/c tests/fuzz
#   make wheel           release wheel repaired by auditwheel (manylinux tag, OpenSSL
#                        and zlib bundled, stripped) in dist/; needs the dev extras
#   make sdist           source distribution (tests, fixtures and LICENSE included) in dist/

SHELL := /bin/bash
CC ?= cc
PKGS := libcrypto zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null || echo)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lcrypto -lz) -lm
# Optional fast zlib-format libraries (as setup.py: AICACHE_NO_ISAL=1 /
# AICACHE_NO_LIBDEFLATE=1 leave them out).  ctest also runs the zlib tests of a
# build without them (build/c/nofast) and of one with libdeflate only
# (build/c/ldonly: its CRC-32), so every codec selection stays green.
ifeq ($(AICACHE_NO_ISAL),)
ifneq ($(shell echo '\#include <isa-l/igzip_lib.h>' | $(CC) -E -x c - >/dev/null 2>&1 && echo y),)
FAST_DEFS += -DAIC_HAVE_ISAL
FAST_LIBS += -lisal
endif
endif
ifeq ($(AICACHE_NO_LIBDEFLATE),)
ifneq ($(shell echo '\#include <libdeflate.h>' | $(CC) -E -x c - >/dev/null 2>&1 && echo y),)
FAST_DEFS += -DAIC_HAVE_LIBDEFLATE
FAST_LIBS += -ldeflate
endif
endif
WARN := -std=c11 -Wall -Wextra -Werror -Wstrict-prototypes -Wwrite-strings -Wno-missing-field-initializers
CFLAGS_BASE := $(WARN) -g -Icsrc $(PKG_CFLAGS) -D_GNU_SOURCE

CORE_SRC := $(sort $(wildcard csrc/aic_*.c))
CORE_HDR := $(wildcard csrc/aic_*.h)
TESTS := $(basename $(notdir $(wildcard tests/c/test_*.c)))
FUZZERS := $(basename $(notdir $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_SECONDS ?= 15
B := build/c

.PHONY: ctest ctest-asan ctest-valgrind fuzz fuzz-build format-check clean-c wheel sdist

$(B)/plain/%: tests/c/%.c $(CORE_SRC) $(CORE_HDR) tests/c/aic_test.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(FAST_DEFS) -O1 -o $@ $< $(CORE_SRC) $(PKG_LIBS) $(FAST_LIBS)

# The same tests built with system zlib only.
$(B)/nofast/%: tests/c/%.c $(CORE_SRC) $(CORE_HDR) tests/c/aic_test.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -O1 -o $@ $< $(CORE_SRC) $(PKG_LIBS)

# ... and with libdeflate only (its CRC-32 and inflate, zlib's deflate).
$(B)/ldonly/%: tests/c/%.c $(CORE_SRC) $(CORE_HDR) tests/c/aic_test.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(filter -DAIC_HAVE_LIBDEFLATE,$(FAST_DEFS)) -O1 -o $@ $< $(CORE_SRC) \
		$(PKG_LIBS) $(filter -ldeflate,$(FAST_LIBS))

$(B)/asan/%: tests/c/%.c $(CORE_SRC) $(CORE_HDR) tests/c/aic_test.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(FAST_DEFS) -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
		-fno-omit-frame-pointer -o $@ $< $(CORE_SRC) $(PKG_LIBS) $(FAST_LIBS)

NOFAST_TESTS := test_zlib test_zlib_fast test_frame

ctest: $(addprefix $(B)/plain/,$(TESTS)) $(addprefix $(B)/nofast/,$(NOFAST_TESTS)) \
		$(addprefix $(B)/ldonly/,$(NOFAST_TESTS))
	@set -e; for t in $^; do echo "== $$t"; ./$$t; done

ctest-asan: $(addprefix $(B)/asan/,$(TESTS))
	@set -e; for t in $^; do echo "== $$t (asan+ubsan)"; \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ./$$t; done

ctest-valgrind: $(addprefix $(B)/plain/,$(TESTS)) $(addprefix $(B)/nofast/,$(NOFAST_TESTS))
	@set -e; for t in $^; do echo "== $$t (valgrind)"; \
		valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect ./$$t; done

$(B)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_common.h $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(dir $@)
	clang $(filter-out -Werror,$(CFLAGS_BASE)) $(FAST_DEFS) -O1 -fsanitize=fuzzer,address,undefined \
		-Itests/fuzz -o $@ $< $(CORE_SRC) $(PKG_LIBS) $(FAST_LIBS)

fuzz-build: $(addprefix $(B)/fuzz/,$(FUZZERS))

# Each fuzzer starts from its committed seeds (tests/fuzz/seeds/<name>/) and keeps
# what it finds in build/c/corpus/<name>/.  Run longer with FUZZ_SECONDS=3600.
fuzz: fuzz-build
	@set -e; for f in $(FUZZERS); do echo "== $$f ($(FUZZ_SECONDS)s)"; \
		mkdir -p $(B)/corpus/$$f; \
		$(B)/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=1024 -print_final_stats=1 \
			-artifact_prefix=$(B)/ $(B)/corpus/$$f tests/fuzz/seeds/$$f 2>&1 | tail -n 12; \
		test $${PIPESTATUS[0]:-0} -eq 0; done

format-check:
	clang-format --dry-run -Werror csrc/*.c csrc/*.h $(wildcard tests/c/*.c tests/c/*.h tests/fuzz/*.c tests/fuzz/*.h)

clean-c:
	rm -rf $(B)

# Release build: no sanitizer/debug toggles, whatever the calling shell has set.
PYTHON ?= python
RELEASE_ENV := env -u AICACHE_SANITIZE -u AICACHE_DEBUG -u AICACHE_COVERAGE

wheel:
	rm -rf build/wheel build/lib.* build/temp.* build/bdist.* && mkdir -p build/wheel dist
	$(RELEASE_ENV) $(PYTHON) -m build --wheel --no-isolation --outdir build/wheel .
	$(PYTHON) -m auditwheel repair --strip --wheel-dir build/wheel/repaired build/wheel/aicache-*.whl
	bash scripts/bundle_zlib.sh build/wheel/repaired/aicache-*.whl dist
	$(PYTHON) -m auditwheel show dist/aicache-*manylinux*.whl

sdist:
	mkdir -p dist
	$(RELEASE_ENV) $(PYTHON) -m build --sdist --no-isolation --outdir dist .
