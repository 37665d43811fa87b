#!/usr/bin/env bash
# trainyard's server as an OCI image, built by trainyard itself (`trainyard build`, no
# container engine): a root filesystem holding the binary, the shared libraries it links
# (from this machine), CA certificates, a non-root user (10001) and /data, its data
# directory. The same binary gives the same image digest.
#
#   scripts/server-image.sh [--binary PATH] [--layout DIR] [--tag TAG] [--push --repo REPO]
#
# Prints the manifest digest. Run it with `docker run -p 7420:7420 -p 4566:4566 -v
# trainyard:/data IMAGE` (see docs/container.md).
set -euo pipefail
binary="target/release/trainyard"
layout="image"
tag="latest"
push=()
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary="$2"; shift 2 ;;
        --layout) layout="$2"; shift 2 ;;
        --tag) tag="$2"; shift 2 ;;
        --push) push+=(--push); shift ;;
        --repo) push+=(--repo "$2"); shift 2 ;;
        *) echo "server-image.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -x "$binary" ] || { echo "server-image.sh: no binary at $binary (cargo build --release -p trainyard)" >&2; exit 2; }
binary="$(realpath "$binary")"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT

install -D -m 0755 "$binary" "$root/usr/local/bin/trainyard"
# The dynamic loader and every library the binary links, at the paths it looks for them.
ldd "$binary" | grep -o '/[^ ]*' | while read -r library; do
    install -D -m 0755 "$(realpath "$library")" "$root$library"
done
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
mkdir -p "$root/data" "$root/tmp"
printf 'root:x:0:0:root:/root:/sbin/nologin\ntrainyard:x:10001:10001:trainyard:/data:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\ntrainyard:x:10001:\n' >"$root/etc/group"

version="$("$binary" --version | cut -d" " -f2)"
"$binary" build "$root" --to / --workdir /data --layout "$layout" --tag "$tag" "${push[@]}" \
    --user 10001:10001 --volume /data --volume /tmp \
    --entrypoint /usr/local/bin/trainyard --cmd server \
    --env TRAINYARD_DATA_DIR=/data --env TRAINYARD_LISTEN=0.0.0.0:7420 --env TRAINYARD_AWS_LISTEN=0.0.0.0:4566 \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt --env TMPDIR=/tmp \
    --expose 7420/tcp --expose 4566/tcp \
    --healthcheck '["/usr/local/bin/trainyard", "health", "--endpoint", "http://127.0.0.1:7420"]' \
    --label "org.opencontainers.image.title=trainyard" \
    --label "org.opencontainers.image.version=$version" \
    --label "org.opencontainers.image.licenses=Apache-2.0"
