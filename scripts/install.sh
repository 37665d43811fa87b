#!/usr/bin/env bash
# Installs trainyard as $PREFIX/bin/trainyard (default PREFIX: ~/.local).
#
# From a release when there is one for this platform: downloads
# trainyard-VERSION-TARGET.tar.gz and the release's SHA256SUMS, refuses the archive unless
# its SHA-256 is the one listed, and puts the binary in place atomically. Otherwise, or with
# --from-source, builds the release binary from this checkout (needs a Rust toolchain from
# https://rustup.rs, and git).
#
#   scripts/install.sh                             # the latest release → ~/.local/bin/trainyard
#   PREFIX=/usr/local scripts/install.sh
#   TRAINYARD_VERSION=0.2.0 scripts/install.sh     # that release, or fail
#   scripts/install.sh --from-source               # cargo build --release --locked -p trainyard
#
# Environment:
#   PREFIX                 where to install (bin/trainyard under it)
#   TRAINYARD_VERSION      the release to install (0.2.0 or v0.2.0); default: the latest
#   TRAINYARD_REPO         the GitHub repository releases come from (default trainyard/trainyard)
#   TRAINYARD_RELEASE_URL  base URL of the releases, holding v<VERSION>/<file> (default
#                          https://github.com/$TRAINYARD_REPO/releases/download). A mirror
#                          also serves <base>/latest, a file holding the latest tag.
#   TRAINYARD_TARGET       the platform's target triple (default: from uname)
set -euo pipefail

usage() {
    sed -n '2,/^set -euo pipefail/{/^set /d;s/^# \{0,1\}//;p}' "$0"
}

from_source=false
for arg in "$@"; do
    case "$arg" in
        --from-source) from_source=true ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            echo "install.sh: unknown argument: $arg (see --help)" >&2
            exit 2
            ;;
    esac
done

root="$(cd "$(dirname "$0")/.." && pwd)"
prefix="${PREFIX:-$HOME/.local}"
case "$prefix" in
    /*) ;;
    *) prefix="$PWD/$prefix" ;;
esac
repo="${TRAINYARD_REPO:-trainyard/trainyard}"
release_url="${TRAINYARD_RELEASE_URL:-https://github.com/$repo/releases/download}"
release_url="${release_url%/}"

say() { echo "install.sh: $*" >&2; }
die() {
    say "$*"
    exit 1
}

# Puts the executable $1 at $prefix/bin/trainyard by a rename in that directory, so the
# name always points at a whole file; a running trainyard keeps its old binary until it
# restarts.
put_in_place() {
    local bin_dir="$prefix/bin"
    mkdir -p "$bin_dir"
    local tmp
    tmp="$(mktemp "$bin_dir/.trainyard.XXXXXX")"
    if ! cp "$1" "$tmp" || ! chmod 0755 "$tmp" || ! mv -f "$tmp" "$bin_dir/trainyard"; then
        rm -f "$tmp"
        die "could not write $bin_dir/trainyard"
    fi
}

report() {
    local installed="$prefix/bin/trainyard" size
    size="$(du -h "$installed" | cut -f1)"
    echo "installed $installed ($("$installed" --version), $size)"
    case ":$PATH:" in
        *":$prefix/bin:"*) ;;
        *) echo "note: $prefix/bin is not on your PATH" ;;
    esac
}

build_from_source() {
    if [ ! -f "$root/Cargo.toml" ] || [ ! -d "$root/crates/trainyard" ]; then
        die "no trainyard checkout at $root to build from; clone the repository and run scripts/install.sh there"
    fi
    command -v cargo >/dev/null 2>&1 ||
        die "building from source needs a Rust toolchain (cargo): https://rustup.rs"
    say "building from source in $root (cargo build --release --locked -p trainyard)"
    (cd "$root" && cargo build --release --locked -p trainyard)
    put_in_place "$root/target/release/trainyard"
    report
}

# The target triple of the release built for this machine, or nothing.
detect_target() {
    case "$(uname -s)/$(uname -m)" in
        Linux/x86_64 | Linux/amd64) echo x86_64-unknown-linux-gnu ;;
        Linux/aarch64 | Linux/arm64) echo aarch64-unknown-linux-gnu ;;
        Darwin/arm64 | Darwin/aarch64) echo aarch64-apple-darwin ;;
        *) ;;
    esac
}

fetch() { # URL FILE
    curl --fail --silent --show-error --location --retry 2 --connect-timeout 20 --output "$2" "$1"
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d' ' -f1
    else
        die "neither sha256sum nor shasum is installed: cannot check the download"
    fi
}

# The latest release's tag (v1.2.3), or nothing when there is none to be found.
latest_tag() {
    local tag=""
    if [ -n "${TRAINYARD_RELEASE_URL:-}" ]; then
        tag="$(curl --fail --silent --location --retry 2 --connect-timeout 20 "$release_url/latest" 2>/dev/null | head -n 1 | tr -d '[:space:]')" || true
    else
        # github.com/OWNER/REPO/releases/latest redirects to .../releases/tag/TAG.
        local url
        url="$(curl --fail --silent --location --retry 2 --connect-timeout 20 --output /dev/null \
            --write-out '%{url_effective}' "https://github.com/$repo/releases/latest" 2>/dev/null)" || true
        case "$url" in
            */releases/tag/*) tag="${url##*/releases/tag/}" ;;
        esac
    fi
    case "$tag" in
        v[0-9]*) echo "$tag" ;;
        [0-9]*) echo "v$tag" ;;
        *) ;;
    esac
}

# Downloads, checks and installs release $1 (a tag) for target $2. When the release has
# no archive for this target it sets no_archive=true and installs nothing (the caller
# decides); any other failure exits.
no_archive=false
install_release() {
    local tag="$1" target="$2"
    local version="${tag#v}"
    local archive="trainyard-$version-$target.tar.gz"
    local work
    work="$(mktemp -d)"
    # shellcheck disable=SC2064 # expand $work now: it is local to this function
    trap "rm -rf '$work'" EXIT

    say "downloading $release_url/$tag/$archive"
    if ! fetch "$release_url/$tag/$archive" "$work/$archive"; then
        no_archive=true
        return 0
    fi
    fetch "$release_url/$tag/SHA256SUMS" "$work/SHA256SUMS" ||
        die "release $tag has $archive but no SHA256SUMS to check it against: refusing to install"

    local expected actual
    expected="$(awk -v f="$archive" '$2 == f || $2 == "*" f { print tolower($1); exit }' "$work/SHA256SUMS")"
    [ -n "$expected" ] || die "SHA256SUMS of release $tag does not list $archive: refusing to install"
    actual="$(sha256_of "$work/$archive")"
    if [ "$actual" != "$expected" ]; then
        die "checksum mismatch for $archive: SHA256SUMS says $expected, the download is $actual. Refusing to install; nothing was changed."
    fi
    say "checksum ok: $archive sha256 $actual"

    mkdir "$work/unpacked"
    tar -xzf "$work/$archive" -C "$work/unpacked" || die "could not unpack $archive"
    local bin=""
    for candidate in "$work/unpacked/trainyard-$version-$target/trainyard" "$work/unpacked/trainyard"; do
        if [ -f "$candidate" ] && [ ! -L "$candidate" ]; then
            bin="$candidate"
            break
        fi
    done
    [ -n "$bin" ] || die "$archive holds no trainyard binary"
    chmod 0755 "$bin"
    "$bin" --version >/dev/null 2>&1 || die "the trainyard binary in $archive does not run on this machine"

    put_in_place "$bin"
    report
}

if [ "$from_source" = true ]; then
    build_from_source
    exit 0
fi

target="${TRAINYARD_TARGET:-$(detect_target)}"
if [ -z "$target" ]; then
    say "no release is built for $(uname -s) $(uname -m)"
    build_from_source
    exit 0
fi
command -v curl >/dev/null 2>&1 || {
    say "curl is not installed: cannot download a release"
    build_from_source
    exit 0
}

if [ -n "${TRAINYARD_VERSION:-}" ]; then
    # A release asked for by name is installed or nothing is: no build of something else.
    tag="v${TRAINYARD_VERSION#v}"
    install_release "$tag" "$target"
    if [ "$no_archive" = true ]; then
        die "could not download trainyard-${tag#v}-$target.tar.gz of release $tag from $release_url/$tag/"
    fi
    exit 0
fi

tag="$(latest_tag)"
if [ -z "$tag" ]; then
    say "no release found at $release_url"
    build_from_source
    exit 0
fi
install_release "$tag" "$target"
if [ "$no_archive" = true ]; then
    say "could not download the archive of release $tag for $target"
    build_from_source
fi
