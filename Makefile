# certsync — the two commands that matter are `make run` and `make test`.
# Everything builds with CMake into build/ (release), build-asan/ (ASan+UBSan
# tests) and build-fuzz/ (clang libFuzzer targets).

JOBS ?= $(shell nproc)
BUILD ?= build
FUZZ_SECONDS ?= 10

.PHONY: all deps build run test test-unit test-asan test-integration test-browser fuzz bench clean help

all: build

help:
	@echo "make run    install packages, build, start a demo hub with three devices"
	@echo "make test   install packages, build, run every test (unit, ASan, integration, fuzz, browser)"
	@echo "make bench  benchmarks against rsync and Syncthing (not part of make test)"

deps:
	scripts/install-deps $(DEPS_FLAGS)

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

run: build
	scripts/demo

test: DEPS_FLAGS = --browser
test: build
	scripts/run-tests

test-unit: build
	cd $(BUILD) && ctest -L unit --output-on-failure

bench: DEPS_FLAGS = --bench
bench: build
	bench/run

clean:
	rm -rf build build-asan build-fuzz
