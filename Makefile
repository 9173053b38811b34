# Set-up on a fresh Debian 12 machine, as root:  ./make demo   and   ./make test
# (./make installs make and the toolchain when they are missing, then runs this file).
BUILD ?= build
JOBS ?= 2
# Warnings are errors in CI (CI=true, set by .ci/run) and nowhere else by default.
WERROR ?= $(if $(CI),ON,OFF)
CCACHE := $(if $(shell command -v ccache 2>/dev/null),-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPODNET_WERROR=$(WERROR) $(CCACHE)

.PHONY: all deps build install demo demo-pod test unit integration bench format lint clean

all: build

deps:
	./scripts/install-deps

build: deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# Into $(DESTDIR)$(PREFIX): bin/podnet, libexec/podnet/podnet-pause, lib/cni/podnet-cni, the man
# page and the bash and zsh completions (see PODNET_CNI_PLUGIN_DIR in cli/CMakeLists.txt).
PREFIX ?= /usr/local
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

# The seed's NetworkPolicy demo (nginx, default-deny, access=true).
demo: build
	./examples/netpol-demo/run.sh $(BUILD)/bin

# One pod, two containers meeting on localhost, a host port.
demo-pod: build
	./examples/pod-demo/run.sh $(BUILD)/bin

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

unit: build
	ctest --test-dir $(BUILD) --output-on-failure -L unit

integration: build
	ctest --test-dir $(BUILD) --output-on-failure -L integration

bench: build
	./bench/run $(BUILD)/bin

format:
	git ls-files '*.cpp' '*.hpp' '*.c' | xargs clang-format -i

lint:
	git ls-files '*.cpp' '*.hpp' '*.c' | xargs clang-format --dry-run --Werror

clean:
	rm -rf $(BUILD)
