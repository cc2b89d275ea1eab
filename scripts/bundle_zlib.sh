#!/usr/bin/env bash
# Graft zlib into a wheel that auditwheel has repaired. auditwheel bundles OpenSSL
# but never zlib (the manylinux policies let wheels use the system's libz), while
# aicache's wheel promises to carry both; the distribution's libz.a is not built
# with -fPIC, so the shared library is copied in the way auditwheel does it:
# hashed name in aicache.libs/, DT_NEEDED rewritten, RECORD regenerated.
# Usage: bash scripts/bundle_zlib.sh <repaired.whl> <output dir>
set -euo pipefail
whl="$1"
out="$2"
py="${PYTHON:-python}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$py" -m wheel unpack "$whl" -d "$work" >/dev/null
root="$(echo "$work"/aicache-*)"
so="$(echo "$root"/aicache/_core*.so)"
libz="$(ldd "$so" | awk '/libz\.so/ {print $3; exit}')"
if [ -z "$libz" ] || [ ! -f "$libz" ]; then
    echo "bundle_zlib: $so does not load libz.so.1 from the system" >&2
    exit 1
fi
name="libz-$(sha256sum "$libz" | cut -c1-8).so.1"
mkdir -p "$root/aicache.libs"
cp "$libz" "$root/aicache.libs/$name"
strip --strip-unneeded "$root/aicache.libs/$name"
patchelf --replace-needed libz.so.1 "$name" "$so"
patchelf --set-rpath '$ORIGIN/../aicache.libs' "$so"
mkdir -p "$out"
"$py" -m wheel pack "$root" -d "$out"
