# Hearth. `make run` starts the daemon; `make test` runs the whole suite.
GO        ?= go
PKGS      ?= ./...
DATA      ?= $(HOME)/.hearth
GOBIN     := $(shell $(GO) env GOPATH)/bin
PROTO_GEN := $(GOBIN)/protoc-gen-gogofaster

.PHONY: build run test test-deps mobile-check bench proto lint fuzz-smoke

build:
	$(GO) build -o bin/hearth ./cmd/hearth

## run: the daemon on the default data dir, with a sync node embedded in the same process.
run:
	$(GO) run ./cmd/hearth serve --data "$(DATA)" --node embedded

## test: vet and the race-enabled suite (fuzz seed corpora included).
test: test-deps
	$(GO) vet $(PKGS)
	$(GO) test -race -timeout 30m $(PKGS)

## test-deps: install what the real-client tests need (gobind, grpcurl, chromium, postgresql,
## npm ci in tests/node and tests/browser); idempotent, seconds when present.
test-deps:
	bash scripts/test-deps.sh

## mobile-check: gobind for Java and Objective-C over mobile/; fails on any unbindable API.
mobile-check:
	bash scripts/mobile-check.sh

## bench: every benchmark, with the SQLite baselines compiled in, then a table
## of every budgeted figure against its budget and SQLite (internal/benchsummary
## reads the -json stream, prints the benchmarks as they run, and fails when a
## test does; BENCH narrows the run, e.g. make bench BENCH=Query PKGS=./spaceindex).
## One package at a time (-p 1): two packages' benchmarks at once would share
## the cores and each measure the other.
BENCH ?= .
bench:
	$(GO) build -o bin/benchsummary ./internal/benchsummary
	$(GO) test -p 1 -tags sqlitebench -run '^$$' -bench '$(BENCH)' -benchmem -timeout 60m -json $(PKGS) | bin/benchsummary

## proto: regenerate pb/ and the dispatch code (needs protoc; installs it if missing).
proto:
	@command -v protoc >/dev/null || { apt-get update -qq && apt-get install -y -qq protobuf-compiler; }
	@test -x "$(PROTO_GEN)" || $(GO) install github.com/gogo/protobuf/protoc-gen-gogofaster@v1.3.2
	PATH="$(GOBIN):$$PATH" protoc -I pb --gogofaster_out=plugins=grpc,paths=source_relative:pb pb/*.proto
	@if ls pb/syncpb/*.proto >/dev/null 2>&1; then \
		PATH="$(GOBIN):$$PATH" protoc -I pb/syncpb --gogofaster_out=plugins=grpc,paths=source_relative:pb/syncpb pb/syncpb/*.proto; fi
	$(GO) run ./internal/gendispatch

## lint: formatting and vet.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags sqlitebench $(PKGS)
