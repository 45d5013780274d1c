# orderpipe's entry points. `make test` is what CI runs (.ci/run). Every
# recipe is one command: the shell lives in scripts/, where `make lint`
# checks it with shellcheck.
GO        ?= go
SERVICES  := scripts/with-services
GOTESTSUM := $(GO) tool gotestsum
RESULTS   := .local/test-results

.PHONY: test fmt-check vet lint test-rules test-go test-heavy test-outage test-cluster bench bench-quick bench-micro fuzz build local local-down verify services-up services-down dashboard-screenshot

## test: gofmt check, go vet, lint, the alert rules (promtool), then every test
## against real Kafka and Elasticsearch: the unit and integration tests with
## -race, the heavy fault runs without, then the failover tests on a
## replicated cluster
test: fmt-check vet lint test-rules
	@RESULTS=$(RESULTS) scripts/test-all

fmt-check:
	@scripts/gofmt-check

## lint: golangci-lint (.golangci.yml, pinned in tools/lint.mod) and shellcheck on every shell script
lint:
	scripts/lint

vet:
	$(GO) vet ./...
	$(GO) vet -tags outage ./...
	$(GO) vet -tags cluster ./...

# The Prometheus configuration and alert rules (deploy/prometheus) load, and
# every alert's promtool unit tests pass (scripts/test-rules).
test-rules:
	@scripts/test-rules

# The parallel suite: every package shares the one Kafka + Elasticsearch pair,
# each test under its own topic and index names.
test-go:
	$(GOTESTSUM) --format pkgname-and-test-fails --jsonfile $(RESULTS)/suite.json -- -race -count=1 -timeout 25m ./...

# The 100,000-order fault runs (the single node's runs of the exact-result
# suite, internal/e2e, with Features.Heavy) and the 50,000-order producer
# run (servicetest.Heavy) skip under -race, which only slows them 5-10x;
# here they run without it, after the suite. So does the million messages
# behind a stuck document (servicetest.Scaled: under -race it runs smaller).
HEAVY := ^(TestConsumerExactResult|TestKill9ThreeTimes|TestProduceOrdersToRealKafka|TestStuckDocumentHoldsBackOnlyItsPartition)$$
test-heavy:
	$(GOTESTSUM) --format pkgname-and-test-fails --jsonfile $(RESULTS)/heavy.json -- -count=1 -timeout 25m -run '$(HEAVY)' ./internal/consumer/ ./cmd/consumer/ ./internal/producer/ ./internal/pipeline/

# Tests that stop an Elasticsearch on purpose (build tag outage; each on a
# node of its own, servicetest.PrivateES) run alone, after the rest: the
# consumer's outage run, a heavy fault run too, so without -race; and the
# alert rules end to end (a real Prometheus sees OrderpipeNotReady fire).
test-outage:
	$(GOTESTSUM) --format pkgname-and-test-fails --jsonfile $(RESULTS)/outage.json -- -count=1 -p 1 -timeout 20m -tags outage -run Outage ./internal/consumer/ ./deploy/

# The failover tests on a real 3-broker KRaft cluster and a 2-node
# Elasticsearch cluster, on ports of their own (scripts/test-cluster).
test-cluster:
	@RESULTS=$(RESULTS) scripts/test-cluster

## bench: the producer and consumer binaries end to end on real Kafka and
## Elasticsearch against their ceilings; one table, also in tools/orderbench/RESULTS.md
bench:
	$(SERVICES) $(GO) run ./tools/orderbench

## bench-quick: the same at reduced sizes, a few minutes (CI smoke)
bench-quick:
	$(SERVICES) $(GO) run ./tools/orderbench -quick

## bench-micro: the Go microbenchmarks (generator, pipeline, producing into the real Kafka)
bench-micro:
	$(SERVICES) $(GO) test -run '^$$' -bench . -benchmem -benchtime 3s ./...

## fuzz: a short run of every fuzz target
fuzz:
	@GO=$(GO) scripts/fuzz

## docs: rewrite the README's settings tables (between its settings:* markers)
## from the programs' settings declarations, the ones -h prints; each
## program's TestREADMESettingsTable fails until this has run after a change
## to them. One package at a time: they all rewrite the one README.
.PHONY: docs
docs:
	ORDERPIPE_UPDATE_DOCS=1 $(GO) test -p 1 -count=1 -run '^TestREADMESettingsTable$$' ./cmd/...

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o .local/bin/ ./cmd/...

## local: the whole pipeline natively (no Docker): Kafka, Elasticsearch, setup, producer, consumer
local:
	scripts/local up

local-down:
	scripts/local down

verify:
	scripts/local verify

## dashboard-screenshot: docs/dashboard.png, the page of orderctl dashboard
## with data at 1440x900, taken by its browser test (needs chromium)
dashboard-screenshot:
	ORDERPIPE_DASHBOARD_SCREENSHOT=docs/dashboard.png $(SERVICES) $(GO) test -count=1 -run '^TestBrowserDashboard$$' ./internal/dashboard/

services-up:
	scripts/services start

services-down:
	scripts/services stop
