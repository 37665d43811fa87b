#!/usr/bin/env bash
# Builds trainyard's release binary and installs it as $PREFIX/bin/trainyard
# (default PREFIX: ~/.local). Needs a Rust toolchain (https://rustup.rs) and git.
#
#   scripts/install.sh                 # ~/.local/bin/trainyard
#   PREFIX=/usr/local scripts/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${PREFIX:-$HOME/.local}"
cargo build --release --locked -p trainyard
install -d "$prefix/bin"
# install(1) writes a new file and renames it into place: a running trainyard keeps its
# old binary until it restarts.
install -m 0755 target/release/trainyard "$prefix/bin/trainyard"
size=$(du -h "$prefix/bin/trainyard" | cut -f1)
echo "installed $prefix/bin/trainyard ($size)"
case ":$PATH:" in
    *":$prefix/bin:"*) ;;
    *) echo "note: $prefix/bin is not on your PATH" ;;
esac
