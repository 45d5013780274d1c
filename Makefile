# orderpipe's entry points. `make test` is what CI runs (.ci/run).
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
	@rm -rf $(RESULTS) && mkdir -p $(RESULTS)
	@status=0; $(SERVICES) $(MAKE) -k --no-print-directory test-go test-heavy test-outage || status=$$?; \
	$(MAKE) --no-print-directory test-cluster || status=$$?; \
	scripts/test-summary $(RESULTS)/*.json || status=1; exit $$status

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## lint: golangci-lint (.golangci.yml, pinned in tools/lint.mod) and shellcheck on every shell script
lint:
	scripts/lint

vet:
	$(GO) vet ./...
	$(GO) vet -tags outage ./...
	$(GO) vet -tags cluster ./...

# The Prometheus configuration and alert rules in deploy/prometheus, with
# promtool (Debian's prometheus package, which .ci/run installs): the
# config and rules must load, and every alert's unit tests (fires when it
# should, silent when it should not) must pass. Without promtool a local
# run says so loudly and skips; with CI=true it fails.
PROMTOOL ?= promtool
test-rules:
	@if ! command -v $(PROMTOOL) >/dev/null; then 	  if [ "$${CI:-}" = "true" ]; then echo "test-rules: $(PROMTOOL) not found; CI=true needs it (apt-get install prometheus)" >&2; exit 1; fi; 	  echo "################################################################################"; 	  echo "# test-rules: $(PROMTOOL) not found: the alert rules are NOT tested (SKIPPED)."; 	  echo "# Install it with: apt-get install prometheus"; 	  echo "################################################################################"; 	  exit 0; 	fi; 	cd deploy/prometheus && $(PROMTOOL) check config prometheus.yml && 	$(PROMTOOL) check rules orderpipe-rules.yml && $(PROMTOOL) test rules orderpipe-rules.test.yml

# The parallel suite: every package shares the one Kafka + Elasticsearch pair,
# each test under its own topic and index names.
test-go:
	$(GOTESTSUM) --format pkgname-and-test-fails --jsonfile $(RESULTS)/suite.json -- -race -count=1 -timeout 25m ./...

# The 100,000-order fault runs (the single node's runs of the exact-result
# suite, internal/e2e, with Features.Heavy) and the 50,000-order producer
# run (servicetest.Heavy) skip under -race, which only slows them 5-10x;
# here they run without it, after the suite.
HEAVY := ^(TestConsumerExactResult|TestKill9ThreeTimes|TestProduceOrdersToRealKafka)$$
test-heavy:
	$(GOTESTSUM) --format pkgname-and-test-fails --jsonfile $(RESULTS)/heavy.json -- -count=1 -timeout 25m -run '$(HEAVY)' ./internal/consumer/ ./cmd/consumer/ ./internal/producer/

# Tests that stop an Elasticsearch on purpose (build tag outage; each on a
# node of its own, servicetest.PrivateES) run alone, after the rest: the
# consumer's outage run, a heavy fault run too, so without -race; and the
# alert rules end to end (a real Prometheus sees OrderpipeNotReady fire).
test-outage:
	$(GOTESTSUM) --format pkgname-and-test-fails --jsonfile $(RESULTS)/outage.json -- -count=1 -p 1 -timeout 20m -tags outage -run Outage ./internal/consumer/ ./deploy/

# The failover tests (build tag "cluster") kill a node of a real 3-broker
# KRaft cluster and a 2-node Elasticsearch cluster, which with-services
# starts on ports and a state folder of their own after the single-node
# suite has finished (and, unless ORDERPIPE_KEEP_SERVICES=1, stopped its
# services: both sets do not fit two cores at once). Their recovery figures
# are printed at the end.
CLUSTER := ORDERPIPE_KAFKA_NODES=3 ORDERPIPE_ES_NODES=2 ORDERPIPE_KAFKA_HEAP=256m ORDERPIPE_ES_HEAP=384m \
	ORDERPIPE_SERVICES_DIR=/tmp/orderpipe-cluster-services ORDERPIPE_KAFKA_PORT=29092 ORDERPIPE_ES_PORT=29200
test-cluster:
	@mkdir -p $(RESULTS) && rm -f $(RESULTS)/failover.txt
	@status=0; $(CLUSTER) ORDERPIPE_FAILOVER_REPORT=$(CURDIR)/$(RESULTS)/failover.txt $(SERVICES) \
	  $(GOTESTSUM) --format pkgname-and-test-fails --jsonfile $(RESULTS)/cluster.json -- -count=1 -timeout 15m -tags cluster ./internal/failover/ || status=$$?; \
	echo "failover figures:"; cat $(RESULTS)/failover.txt 2>/dev/null || echo "  (none recorded)"; exit $$status

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
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 20s $$pkg || exit 1; \
	  done; \
	done

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
