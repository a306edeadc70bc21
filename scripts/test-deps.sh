#!/usr/bin/env bash
# Installs what the end-to-end tests of real clients need, idempotently, and
# in seconds when everything is already there (CI starts from a clean machine):
#
#   gobind, grpcurl   `go install pkg@version` into bin/tools (never go.mod);
#                     gobind at the golang.org/x/mobile version of go.mod
#   chromium          Debian's package, with apt-get, when root and missing
#   postgresql        Debian's package (initdb, pg_ctl under /usr/lib/postgresql/<ver>/bin),
#                     with apt-get, when root and missing; the tests start throwaway clusters
#   jdk               what the Java binding tests need, with apt-get when root
#                     and missing: Debian's default-jdk-headless (javac, jni.h),
#                     protobuf-compiler and libprotobuf-java (the message
#                     classes an app uses), kotlin (the Kotlin snippets of
#                     docs/embedding.md)
#   npm DIR           `npm ci` in DIR (a folder with a committed lockfile),
#                     skipped while DIR/node_modules matches the lockfile
#
# Usage: scripts/test-deps.sh [all | gobind | grpcurl | chromium | postgresql | jdk | npm DIR]...
# With no argument: all. A tool that cannot be had here (no apt, not root)
# is reported, not fatal: the tests that need it skip and say why, except
# in CI (CI=true), where they fail.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="$ROOT/bin/tools"
GO="${GO:-go}"
GRPCURL_VERSION="v1.9.3"
NPM_DIRS=(tests/node tests/browser)

log() { echo "test-deps: $*" >&2; }

can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

apt_updated=""
apt_install() {
	if [ -z "$apt_updated" ]; then
		apt-get update -qq
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# go_tool NAME PACKAGE VERSION: installs PACKAGE@VERSION as bin/tools/NAME
# unless the binary there was built from that version.
go_tool() {
	local name="$1" pkg="$2" version="$3" bin="$TOOLS/$1" have
	if [ -x "$bin" ]; then
		have="$("$GO" version -m "$bin" 2>/dev/null | awk '$1 == "mod" { print $3; exit }')"
		[ "$have" = "$version" ] && return 0
	fi
	log "installing $name $version into bin/tools"
	mkdir -p "$TOOLS"
	(cd "$ROOT" && GOBIN="$TOOLS" "$GO" install "$pkg@$version")
}

gobind() {
	local version
	version="$(cd "$ROOT" && "$GO" list -m -f '{{.Version}}' golang.org/x/mobile)"
	go_tool gobind golang.org/x/mobile/cmd/gobind "$version"
}

grpcurl() {
	go_tool grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl "$GRPCURL_VERSION"
}

chromium() {
	# type -P: the binary on PATH (command -v would find this very function).
	type -P chromium >/dev/null 2>&1 && return 0
	if ! can_apt; then
		log "chromium is missing and cannot be installed here (needs root and apt-get): the browser test will skip"
		return 0
	fi
	log "installing Debian's chromium"
	apt_install chromium || log "installing chromium failed: the browser test will fail"
}

postgresql() {
	local d
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && return 0
	done
	type -P initdb >/dev/null 2>&1 && type -P pg_ctl >/dev/null 2>&1 && return 0
	if ! can_apt; then
		log "PostgreSQL is missing and cannot be installed here (needs root and apt-get): its tests will skip (and fail under CI=true)"
		return 0
	fi
	log "installing Debian's postgresql"
	# The package's own cluster is not used (the tests run initdb on temporary dirs):
	# tell postgresql-common not to create and start one, unless the machine says otherwise.
	if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
		mkdir -p /etc/postgresql-common
		echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
	fi
	apt_install -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold postgresql ||
		log "installing postgresql failed: the PostgreSQL tests will fail"
}

jdk() {
	local want=()
	type -P javac >/dev/null 2>&1 || want+=(default-jdk-headless)
	type -P protoc >/dev/null 2>&1 || want+=(protobuf-compiler)
	[ -f /usr/share/java/protobuf.jar ] || want+=(libprotobuf-java)
	type -P kotlinc >/dev/null 2>&1 || want+=(kotlin)
	[ ${#want[@]} -eq 0 ] && return 0
	if ! can_apt; then
		log "missing ${want[*]}, which cannot be installed here (needs root and apt-get): the Java binding tests will skip"
		return 0
	fi
	log "installing Debian's ${want[*]}"
	apt_install "${want[@]}" || log "installing ${want[*]} failed: the Java binding tests will fail"
}

npm_ci() {
	local dir="$ROOT/$1" want stamp
	if ! command -v npm >/dev/null 2>&1; then
		if can_apt; then
			log "installing Debian's nodejs and npm"
			apt_install nodejs npm || true
		fi
		if ! command -v npm >/dev/null 2>&1; then
			log "npm is missing and cannot be installed here: the tests that need $1 will skip"
			return 0
		fi
	fi
	want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
	stamp="$dir/node_modules/.hearth-lock.sha256"
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
		return 0
	fi
	log "npm ci in $1"
	# --ignore-scripts: no install script may fetch anything from elsewhere.
	(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
	echo "$want" >"$stamp"
}

all() {
	gobind
	grpcurl
	chromium
	postgresql
	for d in "${NPM_DIRS[@]}"; do npm_ci "$d"; done
	jdk
}

[ $# -eq 0 ] && set -- all
while [ $# -gt 0 ]; do
	case "$1" in
	all | gobind | grpcurl | chromium | postgresql | jdk) "$1" ;;
	npm)
		[ $# -ge 2 ] || { log "usage: npm DIR"; exit 2; }
		npm_ci "$2"
		shift
		;;
	*)
		log "unknown argument $1 (all, gobind, grpcurl, chromium, postgresql, jdk, npm DIR)"
		exit 2
		;;
	esac
	shift
done
