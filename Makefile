# mailbridge: `make run` starts the demo, `make test` is the one test command.

GO          ?= go
BIN         := bin/mailbridge
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck
STATICCHECK_VERSION := v0.8.2

.PHONY: build run test test-short bench lint tools clean

build:
	$(GO) build -o $(BIN) ./cmd/mailbridge

# The demo: the bridge against the mock upstream, seeded with sample mail.
run: build
	./$(BIN) demo $(ARGS)

test: lint
	$(GO) test -race -count=1 -timeout 12m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./...

lint: tools
	@fmt=$$(gofmt -l .); if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

tools:
	@test -x $(STATICCHECK) || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

clean:
	rm -rf bin
