# mailbridge: `make run` starts the demo, `make test` is the one test command.

GO          ?= go
BIN         := bin/mailbridge
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck
STATICCHECK_VERSION := v0.8.2
# Node IMAP clients for the protocol tests live outside the repo, where
# the tests look for them (Go's os.UserCacheDir).
NPM_CLIENTS := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/mailbridge-test/npm

.PHONY: build run test test-short bench lint tools clients clean

build:
	$(GO) build -o $(BIN) ./cmd/mailbridge

# The demo: the bridge against the mock upstream, seeded with sample mail.
run: build
	./$(BIN) demo $(ARGS)

test: lint clients
	$(GO) test -race -count=1 -timeout 12m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./...

lint: tools
	@fmt=$$(gofmt -l .); if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

tools:
	@test -x $(STATICCHECK) || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# The versions are pinned by cmd/mailbridge/testdata/clients/package-lock.json.
# Without npm the tests that need these clients skip.
clients:
	@if command -v npm >/dev/null; then \
		mkdir -p $(NPM_CLIENTS) && \
		cp cmd/mailbridge/testdata/clients/package.json cmd/mailbridge/testdata/clients/package-lock.json $(NPM_CLIENTS)/ && \
		npm install --prefix $(NPM_CLIENTS) --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the imapflow test will be skipped"; fi

clean:
	rm -rf bin
