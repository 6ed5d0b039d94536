# Bulwark. The two commands a new user needs: `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
BIN := bin
BULWARK := $(BIN)/bulwark
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/bulwark-k8s/bulwark/internal/cli.Version=$(VERSION)

# Extra prerequisites of `make test`, added by mk/*.mk (the test control
# plane, database servers, ...).
TEST_DEPS :=

.PHONY: all build run test test-unit test-policies bench fuzz lint clean
all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BULWARK) ./cmd/bulwark

# The main job: the compliance report of the workshop's insecure cluster, its
# workloads and its AKS configuration. It finds violations (that is its
# purpose), so its exit code is shown, not turned into a make error.
run: build
	@$(BULWARK) scan examples/workshop/insecure examples/workshop/aks/insecure/az --config examples/workshop/bulwark.yaml; \
	  rc=$$?; echo; echo "bulwark scan exited $$rc (1 = findings at or above --fail-on, as expected for the insecure example)"; \
	  [ $$rc -le 1 ]

include $(wildcard mk/*.mk)

test: build test-unit test-policies $(TEST_DEPS)

test-unit:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

# Every built-in check's suite, in gator verify format.
test-policies: build
	$(BULWARK) verify --quiet internal/policy/library

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 6 ./internal/... | tee bench.out

# Short fuzzing of every decoder of untrusted input.
FUZZTIME ?= 20s
fuzz:
	$(GO) test ./internal/k8s -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME)
	$(GO) test ./internal/policy -run '^$$' -fuzz FuzzLoadTemplate -fuzztime $(FUZZTIME)
	$(GO) test ./internal/policy -run '^$$' -fuzz FuzzValueSharer -fuzztime $(FUZZTIME)
	$(GO) test ./internal/policy -run '^$$' -fuzz FuzzSecretFindings -fuzztime $(FUZZTIME)
	$(GO) test ./internal/policy -run '^$$' -fuzz FuzzRegistryAllowed -fuzztime $(FUZZTIME)
	$(GO) test ./internal/policy -run '^$$' -fuzz FuzzAppendJSON -fuzztime $(FUZZTIME)
	$(GO) test ./internal/audit -run '^$$' -fuzz FuzzDecodeEvent -fuzztime $(FUZZTIME)
	$(GO) test ./internal/audit -run '^$$' -fuzz FuzzDecodeBatch -fuzztime $(FUZZTIME)
	$(GO) test ./internal/audit/archive -run '^$$' -fuzz FuzzReadSegment -fuzztime $(FUZZTIME)
	$(GO) test ./internal/detect -run '^$$' -fuzz FuzzParseRules -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./internal/detect -run '^$$' -fuzz FuzzCompileCondition -fuzztime $(FUZZTIME)
	$(GO) test ./internal/posture -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./internal/analyze/netpol -run '^$$' -fuzz FuzzParsePolicy -fuzztime $(FUZZTIME)
	$(GO) test ./internal/analyze/rbac -run '^$$' -fuzz FuzzLoad -fuzztime $(FUZZTIME)
	$(GO) test ./internal/alert -run '^$$' -fuzz FuzzSpoolRecovery -fuzztime $(FUZZTIME)
	$(GO) test ./internal/admission -run '^$$' -fuzz FuzzHandler -fuzztime $(FUZZTIME)

clean:
	rm -rf $(BIN) bench.out
