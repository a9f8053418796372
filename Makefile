# kotetsu build. `make` builds the core library and tools; `make check` runs
# every test (installing missing Debian packages first); `make fuzz` builds
# the libFuzzer targets; `make bench` runs the benchmarks.

CC      ?= gcc
CLANG   ?= clang
WARN    := -Wall -Wextra -Werror
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE $(WARN) -I.
LDLIBS  := -lcrypto -linih
SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
TSAN    := -fsanitize=thread -fno-omit-frame-pointer

CORE_SRC  := $(sort $(shell find core -name '*.c'))
CORE_HDR  := $(sort $(shell find core -name '*.h'))
TEST_SRC  := $(sort $(wildcard tests/unit/test_*.c))
TOOL_SRC  := $(sort $(wildcard tests/tools/*.c))
FUZZ_SRC  := $(sort $(wildcard fuzz/fuzz_*.c))
BENCH_SRC := $(sort $(wildcard bench/bench_*.c))
# kotetsud and kotetsu; the CLI shares the config loader, the PSK file
# checks and the wiping JSON allocator with the daemon.
DAEMON_SRC := $(sort $(wildcard daemon/*.c))
CLI_SRC    := $(sort $(wildcard cli/*.c)) daemon/config.c daemon/pskfile.c daemon/jwipe.c
BIN_HDR    := $(sort $(wildcard daemon/*.h cli/*.h))
BIN_LDLIBS  = $(LDLIBS) -ljansson -lnftables -lmnl -pthread

B := build
CORE_OBJ      := $(CORE_SRC:%.c=$(B)/obj/%.o)
CORE_ASAN_OBJ := $(CORE_SRC:%.c=$(B)/asan/%.o)
CORE_FUZZ_OBJ := $(CORE_SRC:%.c=$(B)/fuzzobj/%.o)
TESTS      := $(TEST_SRC:tests/unit/%.c=$(B)/tests/%)
TESTS_ASAN := $(TEST_SRC:tests/unit/%.c=$(B)/tests-asan/%)
TOOLS      := $(TOOL_SRC:tests/tools/%.c=$(B)/tools/%)
FUZZERS    := $(FUZZ_SRC:fuzz/%.c=$(B)/fuzz/%)
BENCHES    := $(BENCH_SRC:bench/%.c=$(B)/bench/%)
DAEMON_OBJ      := $(DAEMON_SRC:%.c=$(B)/obj/%.o)
CLI_OBJ         := $(CLI_SRC:%.c=$(B)/obj/%.o)
DAEMON_ASAN_OBJ := $(DAEMON_SRC:%.c=$(B)/asan/%.o)
CLI_ASAN_OBJ    := $(CLI_SRC:%.c=$(B)/asan/%.o)
# ThreadSanitizer build of the programs (make tsan): core included, since
# the worker threads call it.
TSAN_OBJ := $(sort $(CORE_SRC) $(DAEMON_SRC) $(CLI_SRC))
TSAN_OBJ := $(TSAN_OBJ:%.c=$(B)/tsan-obj/%.o)

.PHONY: all lib bins bins-asan tsan tests tools fuzz bench check deps clean demo
all: lib tools bins

lib: $(B)/libkotetsu.a
tests: $(TESTS) $(TESTS_ASAN)
tools: $(TOOLS)
fuzz: $(FUZZERS)
bins: $(B)/kotetsud $(B)/kotetsu
bins-asan: $(B)/asan-bin/kotetsud $(B)/asan-bin/kotetsu
# The tests run it with KOTETSU_BUILD=build/tsan.
tsan: $(B)/tsan/kotetsud $(B)/tsan/kotetsu

$(B)/libkotetsu.a: $(CORE_OBJ)
	@mkdir -p $(@D)
	ar rcs $@ $^
$(B)/libkotetsu-asan.a: $(CORE_ASAN_OBJ)
	@mkdir -p $(@D)
	ar rcs $@ $^
$(B)/libkotetsu-fuzz.a: $(CORE_FUZZ_OBJ)
	@mkdir -p $(@D)
	ar rcs $@ $^

$(B)/obj/%.o: %.c $(CORE_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<
$(B)/asan/%.o: %.c $(CORE_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -O1 $(SAN) -c -o $@ $<
$(B)/fuzzobj/%.o: %.c $(CORE_HDR)
	@mkdir -p $(@D)
	$(CLANG) $(CFLAGS) -O1 -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<

$(B)/tsan-obj/%.o: %.c $(CORE_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -O1 $(TSAN) -c -o $@ $<

$(DAEMON_OBJ) $(CLI_OBJ) $(DAEMON_ASAN_OBJ) $(CLI_ASAN_OBJ) $(TSAN_OBJ): $(BIN_HDR)
$(B)/kotetsud: $(DAEMON_OBJ) $(B)/libkotetsu.a
	$(CC) $(CFLAGS) -o $@ $(DAEMON_OBJ) $(B)/libkotetsu.a $(BIN_LDLIBS)
$(B)/kotetsu: $(CLI_OBJ) $(B)/libkotetsu.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(B)/libkotetsu.a $(BIN_LDLIBS)
$(B)/asan-bin/kotetsud: $(DAEMON_ASAN_OBJ) $(B)/libkotetsu-asan.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -O1 $(SAN) -o $@ $(DAEMON_ASAN_OBJ) $(B)/libkotetsu-asan.a $(BIN_LDLIBS)
$(B)/asan-bin/kotetsu: $(CLI_ASAN_OBJ) $(B)/libkotetsu-asan.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -O1 $(SAN) -o $@ $(CLI_ASAN_OBJ) $(B)/libkotetsu-asan.a $(BIN_LDLIBS)
$(B)/tsan/kotetsud: $(filter $(B)/tsan-obj/core/% $(B)/tsan-obj/daemon/%,$(TSAN_OBJ))
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -O1 $(TSAN) -o $@ $^ $(BIN_LDLIBS)
$(B)/tsan/kotetsu: $(filter $(B)/tsan-obj/core/% $(CLI_SRC:%.c=$(B)/tsan-obj/%.o),$(TSAN_OBJ))
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -O1 $(TSAN) -o $@ $^ $(BIN_LDLIBS)

$(B)/tests/%: tests/unit/%.c tests/unit/testutil.h tests/unit/countalloc.h tests/unit/ike_sim.h $(B)/libkotetsu.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(B)/libkotetsu.a -lcmocka $(LDLIBS)
$(B)/tests-asan/%: tests/unit/%.c tests/unit/testutil.h tests/unit/countalloc.h tests/unit/ike_sim.h $(B)/libkotetsu-asan.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -O1 $(SAN) -o $@ $< $(B)/libkotetsu-asan.a -lcmocka $(LDLIBS)
$(B)/tools/%: tests/tools/%.c tests/tools/toolutil.h $(B)/libkotetsu.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(B)/libkotetsu.a $(LDLIBS)
# ktnft drives the daemon's nftables module, which needs libnftables.
$(B)/tools/ktnft: tests/tools/ktnft.c $(B)/obj/daemon/nft.o $(B)/libkotetsu.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(B)/obj/daemon/nft.o $(B)/libkotetsu.a $(LDLIBS) -lnftables
$(B)/fuzz/%: fuzz/%.c $(B)/libkotetsu-fuzz.a
	@mkdir -p $(@D)
	$(CLANG) $(CFLAGS) -O1 -fsanitize=fuzzer,address,undefined -o $@ $< $(B)/libkotetsu-fuzz.a $(LDLIBS)
$(B)/bench/%: bench/%.c $(B)/libkotetsu.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -O2 -march=native -o $@ $< $(B)/libkotetsu.a $(LDLIBS)

deps:
	@scripts/install-deps

check: deps
	@scripts/check

# Two gateways in network namespaces, a tunnel, a ping across it (root).
demo: deps all
	@scripts/demo

# The C microbenchmarks, then the side-by-side tunnel benchmark (root;
# NET_BENCH_ARGS="--seconds 5" and the like pass through).
bench: deps $(BENCHES) $(B)/kotetsud $(B)/kotetsu
	@for b in $(BENCHES); do $$b || exit 1; done
	/usr/bin/python3 bench/net_bench.py $(NET_BENCH_ARGS)

clean:
	rm -rf $(B)
