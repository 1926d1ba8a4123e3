# SPDX-License-Identifier: Apache-2.0
# Ferry. `make` builds every binary into bin/; `make test` installs what the tests
# need (scripts/install-deps.sh), then runs every suite; its last line is
# "N passed, N failed". See README.md.

CC      ?= gcc
PKGS    := json-c libarchive libcrypto libcurl yaml-0.1 libmicrohttpd libzstd liblz4 libprotobuf-c
BUILD   ?= build
BIN     ?= bin
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo 0.1.0)

CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral \
           -D_FORTIFY_SOURCE=2 -fstack-protector-strong -Ilib \
           -DFERRY_VERSION=\"$(VERSION)\" $(shell pkg-config --cflags $(PKGS))
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -lm

ifeq ($(SAN),1)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -U_FORTIFY_SOURCE
LDFLAGS += -fsanitize=address,undefined
endif
# The libFuzzer tree (make fuzz, build-fuzz/): clang, every object instrumented for
# coverage and ASan/UBSan; the harnesses (tests/fuzz/) add libFuzzer's main.
ifeq ($(FUZZ),1)
CC      := clang
CFLAGS  += -O1 -gline-tables-only -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
           -U_FORTIFY_SOURCE
LDFLAGS += -fuse-ld=lld
endif

# Each binary is the C files under its folder (subfolders included); lib/ is
# libferry.a, which every binary links. Headers are included path-qualified
# from lib/ ("kube/informer.h") and plainly from a binary's own folder.
srcs = $(shell find $(1) -name '*.c' | sort)
objs = $(patsubst %.c,$(BUILD)/%.o,$(1))

LIB_SRC   := $(call srcs,lib)
LIB_OBJ   := $(call objs,$(LIB_SRC))
# lib/cri's protobuf-c messages, generated from the CRI api.proto (make deps puts
# it in /opt/ferry/cri-api) into $(BUILD)/gen/cri/, never into git.
CRI_PROTO ?= /opt/ferry/cri-api/api.proto
CRI_GEN   := $(BUILD)/gen/cri
CRI_PB    := $(CRI_GEN)/api.pb-c.o
LIB_OBJ   += $(CRI_PB)
AGENT_OBJ := $(call objs,$(call srcs,agent))
CTL_OBJ   := $(call objs,$(call srcs,controller))
RT_OBJ    := $(call objs,$(call srcs,ferry-runc))
PLUG_OBJ  := $(call objs,$(call srcs,kubectl-ferry))
# The stand-ins for tests and the demo (lite/): kube-lite, controller-manager-lite, kubelet-lite.
KL_OBJ    := $(call objs,$(call srcs,lite/kube-lite))
# kube-lite's protobuf request bodies: protobuf-c code generated from the Kubernetes
# API's generated.proto files (make deps puts them in /opt/ferry/k8s-proto) into
# $(BUILD)/gen/k8s/, never into git, with a table of every message's descriptor.
K8S_PROTO_DIR ?= /opt/ferry/k8s-proto
K8S_PROTOS := $(addprefix k8s.io/apimachinery/pkg/,apis/meta/v1 runtime runtime/schema util/intstr api/resource) \
              $(addsuffix /v1,$(addprefix k8s.io/api/,core apps policy coordination discovery node rbac \
                authentication authorization admissionregistration batch networking scheduling storage events autoscaling))
K8S_GEN    := $(BUILD)/gen/k8s
K8S_PB_C   := $(K8S_PROTOS:%=$(K8S_GEN)/%/generated.pb-c.c)
K8S_PB_OBJ := $(K8S_PB_C:.c=.o) $(K8S_GEN)/messages.o
KL_OBJ    += $(K8S_PB_OBJ)
KCM_OBJ   := $(call objs,$(call srcs,lite/controller-manager-lite))
KLET_OBJ  := $(call objs,$(call srcs,lite/kubelet-lite))
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
HEADERS   := $(shell find lib agent controller ferry-runc kubectl-ferry lite -name '*.h')

.PHONY: all deps test test-unit test-asan test-node demo bench bench-rebalance bench-memory soak clean lint format fuzz fuzz-bins images images-test

all: $(BIN)/ferry-agent $(BIN)/ferry-controller $(BIN)/ferry-runc $(BIN)/ferry-workload $(BIN)/kube-lite $(BIN)/kubelet-lite $(BIN)/kubectl-ferry $(BIN)/controller-manager-lite \
     $(BIN)/kubectl_complete-ferry

$(BUILD)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# A binary's own headers: "engine/engine.h" from agent/daemon/ as from agent/.
$(BUILD)/agent/%.o: CFLAGS += -Iagent
$(BUILD)/controller/%.o: CFLAGS += -Icontroller

# protoc 3.21 refuses the `[debug_redact = true]` field options of newer protos:
# they only matter to Go's printing, so they go. "linux" is a predefined macro
# under gnu11 and a field name of the CRI: -Ulinux wherever the messages are seen.
ifeq ($(wildcard $(CRI_PROTO)),)
$(CRI_GEN)/api.proto:
	@echo "The CRI api.proto ($(CRI_PROTO)) is missing: run make deps (scripts/install-deps.sh) first" >&2
	@exit 1
else
$(CRI_GEN)/api.proto: $(CRI_PROTO)
	@mkdir -p $(dir $@)
	sed -e 's/ *\[debug_redact = true\]//' $< > $@.tmp && mv $@.tmp $@
endif
$(CRI_GEN)/api.pb-c.c $(CRI_GEN)/api.pb-c.h &: $(CRI_GEN)/api.proto
	protoc-c --proto_path=$(CRI_GEN) --c_out=$(CRI_GEN) $<
$(CRI_PB): $(CRI_GEN)/api.pb-c.c $(CRI_GEN)/api.pb-c.h
	$(CC) $(CFLAGS) -Ulinux -c -o $@ $<
$(BUILD)/lib/cri/%.o: CFLAGS += -I$(BUILD)/gen -Ulinux
$(filter $(BUILD)/lib/cri/%,$(LIB_OBJ)): $(CRI_GEN)/api.pb-c.h

ifeq ($(wildcard $(K8S_PROTO_DIR)/k8s.io/api/core/v1/generated.proto),)
$(K8S_GEN)/stamp:
	@echo "The Kubernetes .proto files ($(K8S_PROTO_DIR)) are missing: run make deps (scripts/install-deps.sh) first" >&2
	@exit 1
else
$(K8S_GEN)/stamp: $(K8S_PROTOS:%=$(K8S_PROTO_DIR)/%/generated.proto)
	@mkdir -p $(K8S_GEN)
	protoc-c --proto_path=$(K8S_PROTO_DIR) --c_out=$(K8S_GEN) $(K8S_PROTOS:%=%/generated.proto) 2>&1 | \
	  { grep -v 'is unused' || true; }
	touch $@
endif
$(K8S_PB_C) $(K8S_PB_C:.c=.h): $(K8S_GEN)/stamp
# messages.c: kl_pb_messages[], every generated message descriptor (the registry
# lite/kube-lite/protobuf.c looks a kind up in).
$(K8S_GEN)/messages.c: $(K8S_GEN)/stamp
	{ echo '/* Generated by the Makefile: every message of the K8S_PROTOS. */'; \
	  for p in $(K8S_PROTOS); do echo "#include \"$$p/generated.pb-c.h\""; done; \
	  echo 'const ProtobufCMessageDescriptor *const kl_pb_messages[] = {'; \
	  sed -n 's/^extern const ProtobufCMessageDescriptor \([a-z0-9_]*\);/  \&\1,/p' \
	    $(K8S_PROTOS:%=$(K8S_GEN)/%/generated.pb-c.h); \
	  echo '  0 };'; } > $@.tmp && mv $@.tmp $@
$(K8S_PB_OBJ): %.o: %.c
	$(CC) $(CFLAGS) -I$(K8S_GEN) -Ulinux -c -o $@ $<
$(BUILD)/lite/kube-lite/%.o: CFLAGS += -I$(K8S_GEN) -Ulinux
ifeq ($(FUZZ),1)
# Descriptor tables (libprotobuf-c, not instrumented, walks them): built plainly, in half the time.
$(K8S_PB_OBJ): CFLAGS += -O0 -fno-sanitize=fuzzer-no-link,address,undefined
endif
$(filter $(BUILD)/lite/kube-lite/%,$(KL_OBJ)): $(K8S_GEN)/stamp

$(BUILD)/libferry.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

$(BIN)/ferry-agent: $(AGENT_OBJ) $(BUILD)/libferry.a
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $(AGENT_OBJ) $(BUILD)/libferry.a $(LDLIBS)

$(BIN)/ferry-controller: $(CTL_OBJ) $(BUILD)/libferry.a
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $(CTL_OBJ) $(BUILD)/libferry.a $(LDLIBS)

$(BIN)/ferry-runc: $(RT_OBJ) $(BUILD)/libferry.a
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $(RT_OBJ) $(BUILD)/libferry.a $(LDLIBS)

$(BIN)/controller-manager-lite: $(KCM_OBJ) $(BUILD)/libferry.a
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $(KCM_OBJ) $(BUILD)/libferry.a $(LDLIBS)

$(BIN)/kubectl-ferry: $(PLUG_OBJ) $(BUILD)/libferry.a
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $(PLUG_OBJ) $(BUILD)/libferry.a $(LDLIBS)

# kubectl 1.26+ completes `kubectl ferry` by running kubectl_complete-ferry from PATH.
$(BIN)/kubectl_complete-ferry: kubectl-ferry/kubectl_complete-ferry
	@mkdir -p $(BIN)
	install -m 0755 $< $@

$(BIN)/kubelet-lite: $(KLET_OBJ) $(BUILD)/libferry.a
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $(KLET_OBJ) $(BUILD)/libferry.a $(LDLIBS)

$(BIN)/kube-lite: $(KL_OBJ) $(BUILD)/libferry.a
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $(KL_OBJ) $(BUILD)/libferry.a $(LDLIBS) -lpthread

# The test and demo workload runs inside busybox root filesystems: static.
$(BIN)/ferry-workload: tests/workload/workload.c
	@mkdir -p $(BIN)
	$(CC) -O2 -static -Wall -Wextra -Werror -o $@ $<

# Unit tests link the library and the agent's and the controller's objects but their main().
UNIT_OBJ := $(filter-out $(BUILD)/agent/main.o $(BUILD)/controller/main.o,$(AGENT_OBJ) $(CTL_OBJ))
# Every unit test may use the fake API server (tests/unit/fake_api.h).
$(BUILD)/tests/fake_api.o: tests/unit/fake_api.c tests/unit/fake_api.h $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<
$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libferry.a $(UNIT_OBJ) $(BUILD)/tests/fake_api.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iagent -Icontroller $(LDFLAGS) -o $@ $< $(UNIT_OBJ) $(UNIT_EXTRA) $(BUILD)/tests/fake_api.o \
	  $(BUILD)/libferry.a $(LDLIBS) -lcmocka
# test_agent_steps, test_progress: the agent daemon on the fake API server (tests/unit/agent_fixture.h).
AGENT_FIXTURE_BIN := $(BUILD)/tests/test_agent_steps $(BUILD)/tests/test_progress
$(BUILD)/tests/agent_fixture.o: tests/unit/agent_fixture.c tests/unit/agent_fixture.h tests/unit/fake_api.h $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iagent -c -o $@ $<
$(AGENT_FIXTURE_BIN): $(BUILD)/tests/agent_fixture.o
$(AGENT_FIXTURE_BIN): UNIT_EXTRA = $(BUILD)/tests/agent_fixture.o
# test_rbac*: kube-lite's objects but its main() (the authorizer, tokens, JWTs).
RBAC_UNIT_BIN := $(filter $(BUILD)/tests/test_rbac%,$(UNIT_BIN))
$(RBAC_UNIT_BIN): $(filter-out $(BUILD)/lite/kube-lite/main.o,$(KL_OBJ))
$(RBAC_UNIT_BIN): UNIT_EXTRA = $(filter-out $(BUILD)/lite/kube-lite/main.o,$(KL_OBJ)) -lpthread
$(RBAC_UNIT_BIN): CFLAGS += -Ilite/kube-lite

# test_kferry_*: the kubectl plugin's formatting (kubectl-ferry/format.c, output.c), without its main().
KFERRY_UNIT_BIN := $(filter $(BUILD)/tests/test_kferry%,$(UNIT_BIN))
KFERRY_UNIT_OBJ := $(BUILD)/kubectl-ferry/format.o $(BUILD)/kubectl-ferry/output.o
$(KFERRY_UNIT_BIN): $(KFERRY_UNIT_OBJ)
$(KFERRY_UNIT_BIN): UNIT_EXTRA = $(KFERRY_UNIT_OBJ)
$(KFERRY_UNIT_BIN): CFLAGS += -Ikubectl-ferry

# kube-lite's chunked lists (paging.c), tested apart from the server.
KL_PAGING_UNIT := $(BUILD)/lite/kube-lite/paging.o $(BUILD)/lite/kube-lite/jwt.o
$(BUILD)/tests/test_kl_paging: $(KL_PAGING_UNIT)
$(BUILD)/tests/test_kl_paging: UNIT_EXTRA = $(KL_PAGING_UNIT)
$(BUILD)/tests/test_kl_paging: CFLAGS += -Ilite/kube-lite

# kube-lite's protobuf decoding, tested apart from the server.
KL_PB_UNIT := $(BUILD)/lite/kube-lite/protobuf.o $(BUILD)/lite/kube-lite/pbjson.o $(K8S_PB_OBJ)
$(BUILD)/tests/test_kl_protobuf: tests/unit/test_kl_protobuf.c $(BUILD)/libferry.a $(KL_PB_UNIT)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -I$(K8S_GEN) -Ulinux $(LDFLAGS) -o $@ $< $(KL_PB_UNIT) $(BUILD)/libferry.a $(LDLIBS) -lcmocka
# libFuzzer harnesses (tests/fuzz/fuzz_NAME.c, README.md "Fuzzing"): make fuzz builds
# them in build-fuzz/ (fuzz-bins, with FUZZ=1 only: clang, every object instrumented)
# and runs each for FUZZ_SECONDS from a copy of its corpus, tests/fuzz/corpus/NAME
# (tests/fuzz/run.sh).
FUZZ_SECONDS ?= 60
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=$(BUILD)/fuzz/%)
# Only what the harnesses link is built (the suite's time counts): the library
# but the CRI client, the controller's and kube-lite's objects with the parsers.
FUZZ_LIB := $(filter-out $(BUILD)/lib/cri/% $(CRI_PB),$(LIB_OBJ))
FUZZ_CTL := $(addprefix $(BUILD)/controller/,webhook.o steer.o policy.o inflight.o placement.o rebalance/json.o \
              rebalance/map.o)
FUZZ_KL  := $(addprefix $(BUILD)/lite/kube-lite/,patch.o select.o paging.o jwt.o protobuf.o pbjson.o) $(K8S_PB_OBJ)
FUZZ_A   := $(addprefix $(BUILD)/fuzz/,libctl.a libkl.a libferry.a)
$(BUILD)/fuzz/libctl.a: $(FUZZ_CTL)
$(BUILD)/fuzz/libkl.a: $(FUZZ_KL)
$(BUILD)/fuzz/libferry.a: $(FUZZ_LIB)
$(FUZZ_A):
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^
$(BUILD)/fuzz/%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_A)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -Icontroller -Ilite/kube-lite -Ulinux $(LDFLAGS) -o $@ $< $(FUZZ_A) $(LDLIBS)
fuzz-bins: $(FUZZ_BIN)
fuzz:
	@$(MAKE) -s FUZZ=1 BUILD=build-fuzz fuzz-bins
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh build-fuzz/fuzz

# Test tools (tests/tools/*.c): programs the shell tests drive.
TOOL_BIN  := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(wildcard tests/tools/*.c))
$(BUILD)/tests/tools/%: tests/tools/%.c $(BUILD)/libferry.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libferry.a $(LDLIBS)

unit-bins: $(UNIT_BIN) $(TOOL_BIN)

deps:
	@bash scripts/install-deps.sh

# Every suite: unit (plain, ASan/UBSan, valgrind), node integration (real runc
# and CRIU, plain and ASan/UBSan binaries). tests/run prints the summary line.
test: deps
	@bash tests/run

test-unit:
	@bash tests/run unit

test-node:
	@bash tests/run node

demo: deps all
	@CONTAINERD=$(CONTAINERD) bash scripts/demo.sh

$(BUILD)/bench/informer-bench: bench/informer_bench.c $(BUILD)/libferry.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libferry.a $(LDLIBS)

# The rebalancer's decision core on a simulated cluster (bench/rebalance/, no API).
REBAL_BENCH_OBJ := $(call objs,$(call srcs,bench/rebalance)) $(filter $(BUILD)/controller/rebalance/%,$(CTL_OBJ)) \
                   $(BUILD)/controller/placement.o
$(BUILD)/bench/rebalance/%.o: CFLAGS += -Icontroller
$(BUILD)/bench/rebalance-bench: $(REBAL_BENCH_OBJ) $(BUILD)/libferry.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(REBAL_BENCH_OBJ) $(BUILD)/libferry.a $(LDLIBS)

# What a client sees during a move (bench/client/, run in the client namespace by bench/client.sh).
CLIENT_BENCH_OBJ := $(call objs,$(call srcs,bench/client))
$(BUILD)/bench/ferry-bench-client: $(CLIENT_BENCH_OBJ) $(BUILD)/libferry.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(CLIENT_BENCH_OBJ) $(BUILD)/libferry.a $(LDLIBS)

bench-rebalance: $(BUILD)/bench/rebalance-bench
	@bash bench/rebalance/run.sh

# ferry-controller's memory with 10,000 pods and 1,000 nodes cached, against kube-lite.
bench-memory: $(BIN)/kube-lite $(BIN)/ferry-controller
	@bash bench/controller-memory.sh

bench: deps all $(BUILD)/bench/informer-bench $(BUILD)/bench/rebalance-bench $(BUILD)/bench/ferry-bench-client
	@bash bench/run.sh
	@bash bench/informer.sh
	@bash bench/cluster.sh
	@bash bench/client.sh
	@bash bench/drain.sh
	@bash bench/rebalance/run.sh
	@bash bench/controller-memory.sh

# Long randomized fault runs on the local cluster (not in CI): SOAK_ROUNDS, SOAK_SEED.
soak: deps all
	@bash tests/soak/chaos.sh

# The controller and agent images (Dockerfile, docs/images.md), built here with podman
# and saved as OCI archives in build/images/; images-test runs the binaries in them.
images:
	@bash scripts/install-deps.sh images
	@VERSION=$(VERSION) bash scripts/images.sh

images-test:
	@VERSION=$(VERSION) bats --tap tests/images

# kube-lite's CEL helper for ValidatingAdmissionPolicies (lite/kube-lite/cel, Go on
# Google's cel-go): built offline in GOPATH mode with the Go toolchain and the
# cel-go sources make deps unpacks into $(CEL_GO_PREFIX) (scripts/install-deps.sh),
# part of `all` where they are there (one Go build cache, build/go-cache, for the plain
# and the sanitizer trees: the helper is Go either way). Without it kube-lite refuses
# policies, saying why.
CEL_GO_PREFIX ?= /opt/ferry/cel-go
CEL_GO_ENV = GOROOT=$(CEL_GO_PREFIX)/go GOPATH=$(CEL_GO_PREFIX)/gopath GO111MODULE=off GOPROXY=off GOFLAGS= \
             GOTOOLCHAIN=local GOENV=off CGO_ENABLED=0 GOCACHE=$(abspath build)/go-cache
CEL_GO_SRC := $(wildcard lite/kube-lite/cel/*.go)
ifneq ($(wildcard $(CEL_GO_PREFIX)/go/bin/go),)
all: $(BIN)/kube-lite-cel
lint: lint-cel
endif
$(BIN)/kube-lite-cel: $(CEL_GO_SRC)
	@mkdir -p $(BIN) build/go-cache
	cd lite/kube-lite/cel && $(CEL_GO_ENV) $(CEL_GO_PREFIX)/go/bin/go build -trimpath -o $(abspath $(BIN))/kube-lite-cel .

.PHONY: lint-cel
lint-cel:
	@test -z "$$($(CEL_GO_PREFIX)/go/bin/gofmt -l lite/kube-lite/cel)" || \
	  { $(CEL_GO_PREFIX)/go/bin/gofmt -l lite/kube-lite/cel; echo "gofmt: the files above need formatting" >&2; exit 1; }
	cd lite/kube-lite/cel && $(CEL_GO_ENV) $(CEL_GO_PREFIX)/go/bin/go vet .

# Every C file of the tree in the style of .clang-format.
C_FILES = $(shell git ls-files '*.c' '*.h')
format:
	clang-format -i $(C_FILES)

lint:
	clang-format --dry-run --Werror $(C_FILES)
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr -D_GNU_SOURCE -Ilib lib agent controller ferry-runc kubectl-ferry lite tests/tools tests/fuzz bench/client
	shellcheck -x scripts/*.sh scripts/lib/*.sh tests/run tests/fuzz/run.sh tests/lib/common.bash tests/node/helpers.bash tests/runtime/helpers.bash tests/kube/helpers.bash tests/cluster/helpers.bash tests/cri/helpers.bash tests/soak/*.sh deploy/containerd/*.sh bench/*.sh bench/rebalance/*.sh \
	  tests/helm/*.sh helm/ferry/files/*.sh

clean:
	rm -rf build build-asan build-fuzz bin
