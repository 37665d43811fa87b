#!/usr/bin/env bash
# Tests scripts/install.sh against releases served on 127.0.0.1 by python3 -m http.server:
# a good archive is checked and installed and runs; a tampered one, or one SHA256SUMS does
# not list, is refused and changes nothing; the latest release is found; no release falls
# back to a source build, and a release asked for by name never does. A stand-in `cargo`
# records the source builds (none really runs). Needs bash, python3, curl, tar, sha256sum.
# Prints "N passed, M failed" and exits non-zero on any failure.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
install_sh="$root/scripts/install.sh"
target=x86_64-unknown-linux-gnu # any triple: the tests set TRAINYARD_TARGET

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
ok() {
    echo "ok: $1"
    passed=$((passed + 1))
}
not_ok() {
    echo "FAILED: $1"
    sed 's/^/    /' "$work/out" 2>/dev/null || true
    failed=$((failed + 1))
}

# A release directory: v$1/trainyard-$1-$target.tar.gz whose binary prints "trainyard $1",
# and v$1/SHA256SUMS listing it.
make_release() {
    local version="$1" name="trainyard-$1-$target"
    local dir="$work/releases/v$version"
    mkdir -p "$dir" "$work/pkg/$name"
    printf '#!/bin/sh\necho "trainyard %s"\n' "$version" >"$work/pkg/$name/trainyard"
    chmod 0755 "$work/pkg/$name/trainyard"
    tar -C "$work/pkg" -czf "$dir/$name.tar.gz" "$name"
    (cd "$dir" && sha256sum "$name.tar.gz" >SHA256SUMS)
}

make_release 1.2.3
make_release 1.2.4
# 1.2.4's archive is made again with another binary after its checksum was written: what a
# tampered mirror serves.
printf '#!/bin/sh\necho tampered\n' >"$work/pkg/trainyard-1.2.4-$target/trainyard"
tar -C "$work/pkg" -czf "$work/releases/v1.2.4/trainyard-1.2.4-$target.tar.gz" "trainyard-1.2.4-$target"
make_release 1.2.5
# 1.2.5's SHA256SUMS does not list its archive.
echo "0000000000000000000000000000000000000000000000000000000000000000  other.tar.gz" >"$work/releases/v1.2.5/SHA256SUMS"
echo v1.2.3 >"$work/releases/latest"
# A second base URL with no release at all.
mkdir -p "$work/releases/empty"

# The stand-in cargo: records its arguments and fails, so no real build ever starts.
mkdir -p "$work/bin"
printf '#!/bin/sh\necho "$*" >>"%s/cargo.log"\nexit 97\n' "$work" >"$work/bin/cargo"
chmod 0755 "$work/bin/cargo"

python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$work/releases" >"$work/server.log" 2>&1 &
server_pid=$!
port=""
for _ in $(seq 1 100); do
    port="$(sed -n 's/.* port \([0-9][0-9]*\).*/\1/p' "$work/server.log" | head -n 1)"
    [ -n "$port" ] && break
    sleep 0.05
done
[ -n "$port" ] || {
    cat "$work/server.log"
    echo "the release server did not start"
    exit 1
}
base="http://127.0.0.1:$port"

# run PREFIX [VAR=value ...] [-- ARG ...]: install.sh with that PREFIX, environment and
# arguments; its output in $work/out, its exit code in $rc.
run() {
    local prefix="$1"
    shift
    local vars=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do
        vars+=("$1")
        shift
    done
    [ $# -gt 0 ] && shift
    rm -f "$work/cargo.log"
    rc=0
    env PATH="$work/bin:$PATH" PREFIX="$prefix" TRAINYARD_TARGET="$target" TRAINYARD_RELEASE_URL="$base" \
        ${vars[@]+"${vars[@]}"} bash "$install_sh" "$@" >"$work/out" 2>&1 </dev/null || rc=$?
}
cargo_called() { [ -f "$work/cargo.log" ]; }

# 1. A named release with a good checksum: installed, runs, no build.
run "$work/p1" TRAINYARD_VERSION=1.2.3
if [ "$rc" -eq 0 ] && [ "$("$work/p1/bin/trainyard")" = "trainyard 1.2.3" ] && ! cargo_called &&
    grep -q "checksum ok" "$work/out"; then
    ok "a good release is checked and installed"
else
    not_ok "a good release is checked and installed (rc=$rc)"
fi

# 2. The same with v in the version, over an existing binary: replaced, no temporary left.
printf '#!/bin/sh\necho old\n' >"$work/p1/bin/trainyard"
run "$work/p1" TRAINYARD_VERSION=v1.2.3
if [ "$rc" -eq 0 ] && [ "$("$work/p1/bin/trainyard")" = "trainyard 1.2.3" ] &&
    [ "$(find "$work/p1/bin" -mindepth 1 | wc -l)" -eq 1 ]; then
    ok "an installed binary is replaced, nothing else left in bin/"
else
    not_ok "an installed binary is replaced, nothing else left in bin/ (rc=$rc)"
fi

# 3. A tampered archive: refused with the reason, nothing installed, no build.
run "$work/p3" TRAINYARD_VERSION=1.2.4
if [ "$rc" -ne 0 ] && grep -q "checksum mismatch" "$work/out" && [ ! -e "$work/p3" ] && ! cargo_called; then
    ok "a tampered archive is refused and nothing is installed"
else
    not_ok "a tampered archive is refused and nothing is installed (rc=$rc)"
fi

# 4. A tampered upgrade leaves the installed binary as it was.
run "$work/p1" TRAINYARD_VERSION=1.2.4
if [ "$rc" -ne 0 ] && [ "$("$work/p1/bin/trainyard")" = "trainyard 1.2.3" ] &&
    [ "$(find "$work/p1/bin" -mindepth 1 | wc -l)" -eq 1 ]; then
    ok "a refused upgrade keeps the installed binary"
else
    not_ok "a refused upgrade keeps the installed binary (rc=$rc)"
fi

# 5. An archive SHA256SUMS does not list: refused.
run "$work/p5" TRAINYARD_VERSION=1.2.5
if [ "$rc" -ne 0 ] && grep -q "does not list" "$work/out" && [ ! -e "$work/p5" ]; then
    ok "an archive missing from SHA256SUMS is refused"
else
    not_ok "an archive missing from SHA256SUMS is refused (rc=$rc)"
fi

# 6. No version given: the latest release (the mirror's latest file) is installed.
run "$work/p6"
if [ "$rc" -eq 0 ] && [ "$("$work/p6/bin/trainyard")" = "trainyard 1.2.3" ] && ! cargo_called; then
    ok "the latest release is installed"
else
    not_ok "the latest release is installed (rc=$rc)"
fi

# 7. A release asked for by name that does not exist: an error, no source build.
run "$work/p7" TRAINYARD_VERSION=9.9.9
if [ "$rc" -ne 0 ] && grep -q "could not download" "$work/out" && ! cargo_called && [ ! -e "$work/p7" ]; then
    ok "a missing named release fails without building"
else
    not_ok "a missing named release fails without building (rc=$rc)"
fi

# 8. No release at all: falls back to cargo build --release --locked -p trainyard.
run "$work/p8" TRAINYARD_RELEASE_URL="$base/empty"
if [ "$rc" -ne 0 ] && cargo_called && grep -qx "build --release --locked -p trainyard" "$work/cargo.log" &&
    grep -q "no release found" "$work/out"; then
    ok "no release falls back to a source build"
else
    not_ok "no release falls back to a source build (rc=$rc)"
fi

# 9. --from-source builds even when a release exists.
run "$work/p9" TRAINYARD_VERSION=1.2.3 -- --from-source
if cargo_called && [ ! -e "$work/p9/bin/trainyard" ]; then
    ok "--from-source builds"
else
    not_ok "--from-source builds (rc=$rc)"
fi

echo "install: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
