# tokenator Makefile. `make help` lists the targets.

IMG ?= ghcr.io/tokenator-dev/tokenator:latest
GO ?= go
LOCALBIN ?= $(CURDIR)/bin
export PATH := $(LOCALBIN):$(PATH)

CONTROLLER_TOOLS_VERSION ?= v0.23.0
KUSTOMIZE_VERSION ?= v5.8.2
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
KUSTOMIZE ?= $(LOCALBIN)/kustomize
HELM ?= $(LOCALBIN)/helm

# The local test control plane: kube-apiserver and etcd (the pinned envtest
# release, or built from the pinned Go modules), and kube-controller-manager
# (built from them) for the e2e suite and the demo.
KUBEBUILDER_ASSETS ?= $(LOCALBIN)/k8s
export KUBEBUILDER_ASSETS
# 1: fetch the pinned, checksummed releases of kube-apiserver, etcd and helm
# first (hack/fetch-release.sh); 0: build them from the pinned Go modules only.
TOOLS_DOWNLOAD ?= 1
export TOOLS_DOWNLOAD

# Most tests wait on a control plane or a token's lifetime, not on the CPU:
# six at a time keep two cores busy.
GOTEST_FLAGS ?= -count=1 -parallel 6
# The slow suites, left out of `make test` and run by `make test-all`: the
# manager built from the Dockerfile's context, the release artifacts, and the
# tool downloads.
SLOW_SUITES ?= dockerfile|release|tools
# The packages of the code itself, whose tests `make test-all` runs again
# with the race detector.
RACE_PKGS ?= ./api/... ./cmd/... ./controllers/... ./internal/... ./operator/... ./hack/...

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-16s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRD and RBAC manifests from the Go markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases
	rm -f charts/tokenator/files/crds/*.yaml
	cp config/crd/bases/*.yaml charts/tokenator/files/crds/
	cp config/rbac/role.yaml charts/tokenator/files/manager-role.yaml
	cp config/grafana/tokenator-dashboard.json charts/tokenator/files/tokenator-dashboard.json

.PHONY: generate
generate: controller-gen ## Generate the DeepCopy methods of the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: docs
docs: manifests ## Generate the API reference docs/api.md from the CRD.
	$(GO) run ./hack/apidocs

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -s -w $$(git ls-files '*.go' | grep -v '^hack/tools/') $$(git ls-files --others --exclude-standard '*.go')

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

.PHONY: control-plane
control-plane: ## Put kube-apiserver and etcd for the tests into bin/k8s: the pinned release, else a build (skipped when present).
	hack/build-control-plane.sh "$(KUBEBUILDER_ASSETS)"

.PHONY: controller-manager
controller-manager: ## Build kube-controller-manager (garbage collector, namespace controller) into bin/k8s (skipped when present).
	hack/build-control-plane.sh "$(KUBEBUILDER_ASSETS)" kube-controller-manager

.PHONY: test
test: manifests generate vet control-plane kustomize helm ## Run the quick suites: unit, envtest (controllers, plugin), chart, docs, interop.
	KUSTOMIZE=$(KUSTOMIZE) HELM=$(HELM) $(GO) test $(GOTEST_FLAGS) $$($(GO) list ./... | grep -vE '/test/($(SLOW_SUITES))$$')

.PHONY: test-all
test-all: test ## Run everything CI runs: the quick suites, the code's packages again with -race, the slow suites, fuzz, bench-smoke, e2e.
	KUSTOMIZE=$(KUSTOMIZE) HELM=$(HELM) $(GO) test -race $(GOTEST_FLAGS) $(RACE_PKGS)
	KUSTOMIZE=$(KUSTOMIZE) HELM=$(HELM) $(GO) test $(GOTEST_FLAGS) $(addprefix ./test/,$(addsuffix /,$(subst |, ,$(SLOW_SUITES))))
	FUZZTIME=$(or $(FUZZTIME),10s) hack/fuzz.sh
	$(MAKE) bench-smoke test-e2e

.PHONY: bench
bench: control-plane ## Measure cold start, steady writes, restart, memory and refresh spread (N=1000; BENCH_ARGS="-n 5000").
	$(GO) run ./hack/bench $(BENCH_ARGS)

.PHONY: bench-smoke
bench-smoke: control-plane ## The benchmark at N=100: fails when a token count or write count is off, never on timings.
	$(GO) run ./hack/bench -smoke -out $(LOCALBIN)/bench-smoke.json

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 10s).
	hack/fuzz.sh

.PHONY: test-e2e
test-e2e: control-plane controller-manager kustomize ## Run the manager binary against a real API server, with the shipped RBAC and two replicas.
	KUSTOMIZE=$(KUSTOMIZE) $(GO) test -tags e2e -count=1 -v -timeout 15m ./test/e2e/

.PHONY: verify
verify: manifests generate docs ## Regenerate code and manifests, then fail on any difference or unformatted file.
	$(GO) mod tidy
	cd hack/tools && $(GO) mod tidy
	cd hack/helm && $(GO) mod tidy
	@test -z "$$(gofmt -s -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -s -l $$(git ls-files '*.go'); exit 1; }
	@git diff --exit-code || { echo "Generated files or go.mod are out of date: run make manifests generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- api charts config docs go.mod go.sum hack)" || { git status --porcelain -- api charts config docs go.mod go.sum hack; echo "Untracked generated files"; exit 1; }

.PHONY: demo
demo: control-plane ## Run a local demo: control plane, token endpoint, manager and a sample OAuthClient (garbage collector: make controller-manager demo).
	$(GO) build -o $(LOCALBIN)/demo ./hack/demo
	$(LOCALBIN)/demo $(DEMO_ARGS)

##@ Build

.PHONY: build
build: manifests generate ## Build the manager binary into bin/manager.
	$(GO) build -o $(LOCALBIN)/manager ./cmd

# The manager's image in dist/install.yaml, tagged VERSION by make release.
RELEASE_IMAGE ?= ghcr.io/tokenator-dev/tokenator

# The version stamped into the kubectl plugin by make plugin (make release
# takes VERSION).
PLUGIN_VERSION ?= $(or $(VERSION),$(shell git describe --tags --always --dirty 2>/dev/null),dev)

.PHONY: plugin
plugin: ## Build the kubectl plugin into bin/kubectl-tokenator (put it on your PATH: kubectl tokenator).
	$(GO) build -trimpath -ldflags "-X main.version=$(PLUGIN_VERSION)" -o $(LOCALBIN)/kubectl-tokenator ./cmd/kubectl-tokenator

.PHONY: release
release: manifests kustomize helm ## Write the release artifacts of VERSION (such as v0.1.0) into dist/: install.yaml, the chart, the plugin for linux and darwin on amd64 and arm64, checksums.txt.
	@test -n "$(VERSION)" || { echo "usage: make release VERSION=v0.1.0"; exit 2; }
	rm -rf dist
	KUSTOMIZE=$(KUSTOMIZE) HELM=$(HELM) GO=$(GO) IMAGE=$(RELEASE_IMAGE) hack/release.sh $(VERSION) dist

.PHONY: run
run: manifests generate ## Run the manager from your host against the cluster of your kubeconfig.
	$(GO) run ./cmd

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine).
	docker build -t $(IMG) .

##@ Deployment

.PHONY: install
install: manifests kustomize ## Install the CRD into the cluster of your kubeconfig.
	$(KUSTOMIZE) build config/crd | kubectl apply --server-side -f -

.PHONY: uninstall
uninstall: manifests kustomize ## Remove the CRD from the cluster of your kubeconfig.
	$(KUSTOMIZE) build config/crd | kubectl delete --ignore-not-found -f -

.PHONY: deploy
deploy: manifests kustomize ## Deploy the operator with image IMG to the cluster of your kubeconfig.
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default | kubectl apply --server-side -f -

.PHONY: undeploy
undeploy: kustomize ## Remove the operator from the cluster of your kubeconfig.
	$(KUSTOMIZE) build config/default | kubectl delete --ignore-not-found -f -

##@ Tools

.PHONY: helm
helm: ## Put helm into bin/helm: the pinned release, else a build from hack/helm (skipped when present).
	hack/build-helm.sh "$(HELM)"

.PHONY: helm-lint
helm-lint: manifests helm ## Lint the Helm chart.
	$(HELM) lint --strict charts/tokenator

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN):
	GOBIN=$(LOCALBIN) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)

.PHONY: kustomize
kustomize: $(KUSTOMIZE)
$(KUSTOMIZE):
	GOBIN=$(LOCALBIN) $(GO) install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
