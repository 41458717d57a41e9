#!/usr/bin/env bash
# The Nix checks that run without a Nix store, daemon, nixpkgs or network,
# with Debian's nix-bin (Nix 2.8) and Go. .ci/test runs this; so can you:
#
#   bash nix/tests/run.sh                                 # parse, lib test, vendorHash
#   NIXPKGS_LIB=/path/to/nixpkgs/lib bash nix/tests/run.sh  # + module evaluation
#
# A shell script rather than a Go test: the checks drive nix-instantiate, not
# Go code, and a Go package under nix/ would make every `go test ./...` of
# the root module depend on Nix being installed.
#
# Every Nix command gets --store dummy://: it only evaluates, so it neither
# needs nor touches /nix/store, and runs the same as root or not.
set -euo pipefail
cd "$(dirname "$0")/../.."

nix_flags=(--store dummy://)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "-- parse every .nix file"
n=0
while IFS= read -r -d '' f; do
	nix-instantiate "${nix_flags[@]}" --parse "$f" >/dev/null || {
		echo "$f: does not parse" >&2
		exit 1
	}
	n=$((n + 1))
done < <(find nix -name '*.nix' -print0 | sort -z)
echo "$n files parse"

echo "-- pure helpers (nix/lib.nix), builtins only"
nix-instantiate "${nix_flags[@]}" --eval --strict nix/tests/lib-test.nix

echo "-- vendorHash matches go.mod, go.sum and the imports"
bash nix/update-vendor-hash.sh --check

echo "-- NixOS module evaluated with nixpkgs' lib"
if [ -z "${NIXPKGS_LIB:-}" ]; then
	cat <<-'EOF'
		skipped: NIXPKGS_LIB is not set. It must point at the lib/ directory of a
		nixpkgs checkout, e.g.:
		  git clone https://github.com/nix-community/nixpkgs.lib /tmp/nixpkgs.lib
		  NIXPKGS_LIB=/tmp/nixpkgs.lib/lib bash nix/tests/run.sh
	EOF
	exit 0
fi
if [ ! -f "$NIXPKGS_LIB/default.nix" ]; then
	echo "NIXPKGS_LIB=$NIXPKGS_LIB has no default.nix; point it at nixpkgs' lib/ directory" >&2
	exit 1
fi
NIXPKGS_LIB=$(cd "$NIXPKGS_LIB" && pwd)

ev() {
	nix --extra-experimental-features nix-command "${nix_flags[@]}" \
		eval --raw --file nix/tests/eval-test.nix --argstr nixpkgsLib "$NIXPKGS_LIB" "$1"
}
ev summary

# The module validates each spec at build time by running the script of its
# runCommand. Run those scripts here as the build would (errexit, pipefail),
# with the real binary, on the TOML the module generated.
CGO_ENABLED=1 go build -o "$tmp/bin/user-secrets" .
run_build_check() { # case -> the script's output; its exit status
	local dir="$tmp/$1"
	mkdir -p "$dir"
	ev "$1.toml" >"$dir/spec.toml"
	ev "$1.script" >"$dir/build.sh"
	(cd "$dir" && PATH="$tmp/bin:$PATH" spec="$dir/spec.toml" out="$dir/out" \
		bash -euo pipefail build.sh) >"$dir/log" 2>&1
}
for c in seed full token; do
	if ! run_build_check "$c"; then
		echo "the $c configuration's spec fails its build-time check:" >&2
		cat "$tmp/$c/log" >&2
		exit 1
	fi
	cmp -s "$tmp/$c/spec.toml" "$tmp/$c/out" || {
		echo "$c: the build did not install the checked spec" >&2
		exit 1
	}
	echo "$c: $(cat "$tmp/$c/log")"
done
if run_build_check bad; then
	echo "a spec with vault.concurrency = 0 passed its build-time check" >&2
	exit 1
fi
grep -q 'user-secrets: error: .*vault.concurrency: must be between 1 and 256' "$tmp/bad/log" || {
	echo "the build-time check failed without the tool's message:" >&2
	cat "$tmp/bad/log" >&2
	exit 1
}
echo "bad: the build fails with: $(grep -m1 'error:' "$tmp/bad/log")"
