# rdsgate developer tasks. `make help` lists them.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# staticcheck's release for Go 1.26; .ci/run pins the same one.
STATICCHECK ?= v0.8.2
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null)
# The commit's time, not the build's, so two builds of one commit match.
DATE     ?= $(shell git log -1 --format=%cI 2>/dev/null)
BUILDINFO := github.com/rdsgate/rdsgate/internal/buildinfo
LDFLAGS  := -s -w -X $(BUILDINFO).version=$(VERSION) -X $(BUILDINFO).commit=$(COMMIT) -X $(BUILDINFO).date=$(DATE)

.PHONY: help build test lint bench fuzz demo try-moto ci release-snapshot

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build bin/rdsgate (static, no cgo)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/rdsgate ./cmd/rdsgate

test: ## run every test with the race detector (the README's test command)
	$(GO) test -race -count=1 ./...

lint: ## gofmt, go vet, staticcheck, and the macOS, Windows and Linux arm64 builds
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK) ./...
	GOOS=darwin GOARCH=arm64 $(GO) vet ./...
	GOOS=darwin GOARCH=amd64 $(GO) build -o /dev/null ./cmd/rdsgate
	GOOS=windows GOARCH=amd64 $(GO) build -o /dev/null ./cmd/rdsgate
	GOOS=linux GOARCH=arm64 $(GO) build -o /dev/null ./cmd/rdsgate

bench: ## run the Go benchmarks and the peer comparisons in bench/
	$(GO) test -run '^$$' -bench . -benchmem ./...
	@for s in bench/*.sh; do [ -x "$$s" ] && "$$s"; done

fuzz: ## run each fuzz target for 20 s
	@for p in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$p | grep '^Fuzz'); do \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 20s $$p || exit 1; done; done

demo: ## walk the whole path against the built-in sandbox (installed servers if present, else the embedded engine)
	$(GO) run ./cmd/rdsgate demo

try-moto: ## list databases and print a token against a throwaway moto_server
	./scripts/try-moto.sh

release-snapshot: ## archives, .deb/.rpm, SBOMs, Homebrew formula and image tarballs for every platform in bin/dist (nothing published)
	./.ci/release-snapshot

ci: ## what CI runs
	./.ci/run
