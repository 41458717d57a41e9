#!/usr/bin/env bash
# Computes package.nix's vendorHash without a Nix store or daemon, and writes
# it there (or, with --check, only compares and fails if it is stale).
#
# buildGoModule's vendor derivation runs `go mod vendor` on the source and
# its output is that vendor directory, fixed by its recursive (NAR) SHA-256.
# So the same hash comes out of `go mod vendor -o DIR` here followed by
# nix-hash on DIR. Only go.mod, go.sum and the Go files git knows of (tracked,
# or new and not ignored) are copied, so stray files cannot change it.
#
# Needs: go, nix-hash and nix (Debian: apt-get install nix-bin), git.
# The Go module cache or proxy must be reachable for `go mod vendor`.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=write
case "${1:-}" in
--check) mode=check ;;
"") ;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/src"
# The Go files of the working tree decide which packages get vendored; the
# e2e module is separate and not part of the package.
git ls-files -z --cached --others --exclude-standard -- go.mod go.sum '*.go' ':!:e2e/**' |
	xargs -0 cp --parents -t "$tmp/src"
# GOFLAGS=-mod=mod keeps an inherited -mod=vendor from refusing to run;
# GOTOOLCHAIN=local matches buildGoModule, which never switches toolchains.
(cd "$tmp/src" && GOFLAGS=-mod=mod GOTOOLCHAIN=local go mod vendor -o "$tmp/vendor")

base32=$(nix-hash --type sha256 --base32 "$tmp/vendor")
hash=$(nix --extra-experimental-features nix-command --store dummy:// hash to-sri --type sha256 "$base32")

file=nix/package.nix
current=$(sed -n 's/^ *vendorHash = "\(.*\)";.*/\1/p' "$file")
if [ "$current" = "$hash" ]; then
	echo "vendorHash is current: $hash"
	exit 0
fi
if [ "$mode" = check ]; then
	echo "nix/package.nix: vendorHash is stale: it says $current, go.mod/go.sum and the imports give $hash" >&2
	echo "hint: run nix/update-vendor-hash.sh and commit nix/package.nix" >&2
	exit 1
fi
sed -i "s|^\( *vendorHash = \)\".*\";|\1\"$hash\";|" "$file"
echo "vendorHash updated: $current -> $hash"
