#!/usr/bin/env bash
# Runs gobind for Java and Objective-C (and the Go side) over mobile/ and
# fails if any exported API cannot be bound. gobind itself exits 0 and only
# leaves "skipped ... unsupported" comments in what it generates, so this
# script reads them.
#
# Usage: scripts/mobile-check.sh [--outdir DIR]
# With --outdir, the generated sources stay in DIR (the Java binding test
# builds them); otherwise they go to a temporary directory that is removed.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
out=""
if [ "${1:-}" = "--outdir" ]; then
	out="$2"
	mkdir -p "$out"
else
	out="$(mktemp -d)"
	trap 'rm -rf "$out"' EXIT
fi

bash "$ROOT/scripts/test-deps.sh" gobind
cd "$ROOT"
"$ROOT/bin/tools/gobind" -lang=go,java,objc -outdir "$out" ./mobile

# gobind leaves exactly these words next to each API it could not bind.
if skipped="$(grep -rhoE 'skipped [^*]*unsupported[^*]*' "$out" | sort -u)" && [ -n "$skipped" ]; then
	echo "mobile-check: mobile/ has APIs gomobile cannot bind:" >&2
	echo "$skipped" | sed 's/^/  /' >&2
	exit 1
fi
for f in java/mobile/Mobile.java src/gobind/Mobile.objc.h src/gobind/go_mobilemain.go; do
	[ -s "$out/$f" ] || { echo "mobile-check: gobind did not generate $f" >&2; exit 1; }
done
echo "mobile-check: ok (Java, Objective-C and Go bindings of mobile/ generated with nothing skipped)"
