# Makefile - the two commands of the quick start, and the benchmarks.
#
#   make demo    install what is missing, build, run the example
#   make check   install, build (normal and ASan+UBSan), run every test
#
# The binary lands at build/banyan.

JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
CTEST_FLAGS ?= --output-on-failure -j$(JOBS)

.PHONY: all deps build build-asan demo check check-normal check-asan \
        slow bench-local bench-sweep bench-resources clean

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DBANYAN_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j$(JOBS)

build-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DASAN=ON -DUBSAN=ON \
	    -DBANYAN_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-asan -j$(JOBS)

demo: build
	@./examples/demo.sh

# Both halves run even when the first fails, so one run reports every
# failure; the exit status is that of the worse half.
check:
	@normal=0; asan=0; \
	$(MAKE) --no-print-directory check-normal || normal=$$?; \
	$(MAKE) --no-print-directory check-asan || asan=$$?; \
	[ $$normal -eq 0 ] || echo "make check: the normal build's tests failed"; \
	[ $$asan -eq 0 ] || echo "make check: the ASan+UBSan build's tests failed"; \
	[ $$normal -eq 0 ] && [ $$asan -eq 0 ]

check-normal: build
	cd build && ctest $(CTEST_FLAGS) -LE slow

check-asan: build-asan
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ctest $(CTEST_FLAGS) -LE slow

slow: build
	cd build && ctest $(CTEST_FLAGS) -L slow

bench-local: build
	@./scripts/install-deps.sh --bench
	@./bench/local_spawn.sh

bench-sweep: build
	@./scripts/install-deps.sh --bench
	@./bench/sweep_bench.sh

.PHONY: bench-cluster
bench-cluster: build
	@./scripts/install-deps.sh --bench
	@./bench/cluster_bench.sh

# Issue 6: the scheduler tree: broadcast latency against ipyparallel, the
# root's load, a blob across network namespaces, payload dedup
# (docs/BENCHMARKS.md, "Tree"); issue 12: bench/simulate against a real
# root at 64 engines, fan-out 4 (bench/sim_vs_prod.sh, "One tree node").
# bench/tree_bench.sh --quick is shorter.
.PHONY: bench-tree
bench-tree: build
	@./scripts/install-deps.sh --bench
	@./bench/tree_bench.sh

# Issue 5: memory packing with learnt estimates, and fair sharing between
# two instances (docs/BENCHMARKS.md, "Resources").
bench-resources: build
	@./bench/resources.sh

clean:
	rm -rf build build-asan build-fuzz

# make fuzz / fuzz-long: every decoder under libFuzzer (clang), in its own
# build directory (tests/fuzz; docs/security.md, "Hostile input").  Each
# target runs FUZZ_SECONDS in turn: make fuzz 10 s each; make fuzz-long an
# hour in all, 3600/N s for each of the N targets.  The corpus grows in
# build-fuzz/fuzz-corpus; a failing input lands in build-fuzz/fuzz-corpus/
# crash-NAME-*.  (make check runs every target briefly without libFuzzer.)
.PHONY: fuzz fuzz-long build-fuzz
build-fuzz: deps
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DBANYAN_FUZZ=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-fuzz -j$(JOBS) --target fuzz_all

fuzz: build-fuzz
	@cd build-fuzz && n=$$(ctest -N -L fuzz-long | grep -c 'Test *#'); \
	s=$${FUZZ_SECONDS:-10}; \
	echo "make fuzz: $$n targets, $$s s each"; \
	FUZZ_SECONDS=$$s ctest --output-on-failure -L fuzz-long \
	    --timeout $$((s + 300))

fuzz-long: build-fuzz
	@cd build-fuzz && n=$$(ctest -N -L fuzz-long | grep -c 'Test *#'); \
	s=$${FUZZ_SECONDS:-$$((3600 / n))}; \
	echo "make fuzz-long: $$n targets, $$s s each"; \
	FUZZ_SECONDS=$$s ctest --output-on-failure -L fuzz-long \
	    --timeout $$((s + 300))

# Issue 17: the chaos suite (tests/chaos/run; docs/RELIABILITY.md): kill -9
# of runs, sweeps, servers, relays and workers, pauses, partitions, floods,
# full filesystems; a table of tries / lost / duplicated tasks, also as
# Markdown in build/chaos-results.md.  Under 15 minutes on 2 cores; fails
# when a scenario loses or duplicates a task.  Network namespaces and tmpfs
# need root: without it those scenarios say "skipped (needs root)".
# The short version (--quick) is the CTest chaos_quick of make check.
# Every case of the GNU Parallel differential test (make check runs half).
.PHONY: parity
parity: build
	@/usr/bin/python3 tests/parity/run --banyan build/banyan

.PHONY: chaos
chaos: build
	@/usr/bin/python3 tests/chaos/run --md build/chaos-results.md
