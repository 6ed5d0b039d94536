# The test control plane for end-to-end tests (test/e2e): etcd from Debian's
# etcd-server package, and kube-apiserver, kube-controller-manager and kubectl
# built by the separate Go module in hack/tools. See hack/README.md.
#
#   make testcluster   install etcd if missing, build what is missing in bin/
#   make test-e2e      run the end-to-end tests against it

TOOLS_DIR := hack/tools
CONTROL_PLANE := $(BIN)/kube-apiserver $(BIN)/kube-controller-manager $(BIN)/kubectl
E2E_TIMEOUT ?= 20m

.PHONY: testcluster testcluster-etcd test-e2e

testcluster: testcluster-etcd $(CONTROL_PLANE)

# Installs Debian's etcd-server only when no etcd is on PATH (CI is a fresh
# Debian machine where we are root).
testcluster-etcd:
	@if ! command -v etcd >/dev/null 2>&1; then \
	  echo "etcd not on PATH: installing Debian's etcd-server"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update && apt-get install -y --no-install-recommends etcd-server; \
	fi

# File targets: each binary is built only when it is missing (or hack/tools'
# go.mod changed). The first kube-apiserver build takes several minutes;
# later ones come from the Go build cache.
$(BIN)/kube-apiserver: $(TOOLS_DIR)/go.mod
	cd $(TOOLS_DIR) && $(GO) build -ldflags "-s -w" -o $(abspath $@) k8s.io/kubernetes/cmd/kube-apiserver

$(BIN)/kube-controller-manager: $(TOOLS_DIR)/go.mod
	cd $(TOOLS_DIR) && $(GO) build -ldflags "-s -w" -o $(abspath $@) k8s.io/kubernetes/cmd/kube-controller-manager

$(BIN)/kubectl: $(TOOLS_DIR)/go.mod
	cd $(TOOLS_DIR) && $(GO) build -ldflags "-s -w" -o $(abspath $@) k8s.io/kubernetes/cmd/kubectl

test-e2e: testcluster
	$(GO) test -count=1 -tags e2e -timeout $(E2E_TIMEOUT) ./test/e2e/...

TEST_DEPS += testcluster test-e2e
