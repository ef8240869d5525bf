# criu-lite build. Sources are picked up by directory, so adding a file needs
# no edit here. `make test` installs missing Debian packages, builds, and runs
# the Criterion suite; `make demo` dumps a demo process.
BUILD   ?= build
PREFIX  ?= /usr/local
CC      ?= gcc
PKGS    := libprotobuf-c libcap libelf libxxhash
# Only their headers at build time: criu-lite loads them when first needed
# (images/lazy_lib.h), so most commands never map them. The suite links
# libnftables (it lists the network lock's table as nft would).
LAZY_PKGS := libarchive
SAN     ?=

CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-missing-field-initializers \
           -I. -I$(BUILD)/pb $(shell pkg-config --cflags $(PKGS) $(LAZY_PKGS) 2>/dev/null) $(SAN)
LDFLAGS += $(SAN)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread

PROTOS   := $(wildcard images/*.proto)
CRIU_PROTOS := $(wildcard images/criu/*.proto)
PB_SRCS  := $(patsubst images/%.proto,$(BUILD)/pb/%.pb-c.c,$(PROTOS)) \
            $(patsubst %.proto,$(BUILD)/pb/%.pb-c.c,$(CRIU_PROTOS))
PB_HDRS  := $(PB_SRCS:.c=.h)
PB_OBJS  := $(PB_SRCS:.c=.o)
IMG_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard images/*.c images/criu/*.c)) $(PB_OBJS)
APP_SRCS := $(shell find common criu-lite convert restore -name '*.c' ! -name '*.bpf.c' | sort)
APP_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(APP_SRCS))
LIB_OBJS := $(filter-out $(BUILD)/obj/criu-lite/main.o,$(APP_OBJS)) $(IMG_OBJS)

TEST_SRCS    := $(wildcard test/*.c)
TEST_OBJS    := $(patsubst %.c,$(BUILD)/obj/%.o,$(TEST_SRCS))
TARGET_SRCS  := $(wildcard test/targets/*.c)
TARGET_BINS  := $(patsubst test/targets/%.c,$(BUILD)/targets/%,$(TARGET_SRCS))

.PHONY: all deps install test test-repeat faults faults-restore check-build layers targets demo bench fuzz fuzz-build clean
.SECONDARY:

all: $(BUILD)/criu-lite

deps:
	@scripts/deps.sh

$(BUILD)/pb/%.pb-c.c $(BUILD)/pb/%.pb-c.h: images/%.proto
	@mkdir -p $(BUILD)/pb
	protoc-c --proto_path=images --c_out=$(BUILD)/pb $<

# CRIU's schema (images/criu/, package criu) is generated under
# build/pb/images/criu/ and included as "images/criu/X.pb-c.h": its file
# and message names never meet ours (both have an mm.proto, a vma_entry).
$(BUILD)/pb/images/criu/%.pb-c.c $(BUILD)/pb/images/criu/%.pb-c.h: images/criu/%.proto
	@mkdir -p $(BUILD)/pb
	protoc-c --proto_path=. --c_out=$(BUILD)/pb $<

$(BUILD)/pb/%.pb-c.o: $(BUILD)/pb/%.pb-c.c
	$(CC) $(CFLAGS) -Wno-unused-parameter -c -o $@ $<

# BPF programs (common/fd/bpf/*.bpf.c), built by clang for the BPF target
# against the kernel types of this machine's BTF, go into criu-lite as light
# skeletons (bpftool gen skeleton -L): the kernel applies their CO-RE
# relocations when they load, so the binary runs on other kernels too.
BPF_SRCS  := $(wildcard common/fd/bpf/*.bpf.c)
BPF_SKELS := $(patsubst %.bpf.c,$(BUILD)/bpf/%.lskel.h,$(BPF_SRCS))
CFLAGS    += -I$(BUILD)/bpf

$(BUILD)/bpf/vmlinux.h:
	@mkdir -p $(dir $@)
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(BUILD)/bpf/%.bpf.o: %.bpf.c %.h $(BUILD)/bpf/vmlinux.h
	@mkdir -p $(dir $@)
	clang -O2 -g -target bpf -I. -I$(BUILD)/bpf -c -o $@ $<

$(BUILD)/bpf/%.lskel.h: $(BUILD)/bpf/%.bpf.o
	bpftool gen skeleton -L $< > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/%.o: %.c $(PB_HDRS) $(BPF_SKELS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/criu-lite: $(BUILD)/obj/criu-lite/main.o $(LIB_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Test targets are what the suite dumps: built without optimisation so that
# locals and frames are where gdb and the tests expect them.
$(BUILD)/targets/%: test/targets/%.c test/targets/target.h
	@mkdir -p $(dir $@)
	gcc -O0 -g -pthread -mavx2 -fno-omit-frame-pointer -o $@ $< $(TARGET_LIBS)

# A real library's job for the SQLite scenario (test_restore_sqlite.c).
$(BUILD)/targets/sqlite_job: TARGET_LIBS := -lsqlite3

targets: $(TARGET_BINS)

$(BUILD)/test/suite: $(TEST_OBJS) $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libnftables 2>/dev/null) -lcriterion

install: $(BUILD)/criu-lite
	install -D -m 0755 $< $(DESTDIR)$(PREFIX)/bin/criu-lite

# The tree's shape (DESIGN.md): includes by layer, no circles (scripts/layers.py).
layers: all
	python3 scripts/layers.py --objs $(APP_OBJS) $(filter-out $(PB_OBJS),$(IMG_OBJS))

check-build: deps
	$(MAKE) all targets $(BUILD)/test/suite

# The whole suite, one dump and convert under valgrind's memcheck, then the
# suite again built with ASan+UBSan in a second build dir.
test: deps
	$(MAKE) all targets $(BUILD)/test/suite
	python3 scripts/layers.py --objs $(APP_OBJS) $(filter-out $(PB_OBJS),$(IMG_OBJS))
	CRIU_LITE=$(BUILD)/criu-lite TARGETS=$(BUILD)/targets $(BUILD)/test/suite --jobs 2
	scripts/valgrind.sh $(BUILD)
	$(MAKE) BUILD=build-asan SAN="-fsanitize=address,undefined -fno-omit-frame-pointer" all targets build-asan/test/suite
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 LSAN_OPTIONS=suppressions=$(CURDIR)/test/lsan.supp UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		CRIU_LITE=build-asan/criu-lite TARGETS=build-asan/targets build-asan/test/suite --jobs 2

# Fault injection, the whole sweeps (the suite runs a bounded subset): a
# restore killed or failing at each of its steps, with and without a keeper,
# and coredump-server killed at each of its steps.
faults-restore: deps
	$(MAKE) all targets $(BUILD)/test/suite
	CRIU_LITE_FAULT_SWEEP=full CRIU_LITE=$(BUILD)/criu-lite TARGETS=$(BUILD)/targets \
		$(BUILD)/test/suite --jobs 2 --filter '@(restore_fault|crash_guard)/*'

# Issue 15's dump sweep: criu-lite told to die, then to fail, at every one of
# its steps in every mode of dump (test_survive.c); then the restore and
# coredump-server sweeps.
faults: deps
	$(MAKE) all targets $(BUILD)/test/suite
	CRIU_LITE_FAULT_SWEEP=full CRIU_LITE=$(BUILD)/criu-lite TARGETS=$(BUILD)/targets \
		$(BUILD)/test/suite --jobs 2 --filter 'survive/*'
	$(MAKE) faults-restore

# The plain suite N times (default 20), to catch tests that fail only now and
# then; BESIDE=1 runs a second copy of the suite next to them all along.
N ?= 20
test-repeat: deps
	BUILD=$(BUILD) scripts/test_repeat.sh -n $(N) $(if $(BESIDE),--beside)

demo: deps
	$(MAKE) all targets
	@scripts/demo.sh

# libFuzzer targets (test/fuzz/*.c), built with clang into build-fuzz/ and run
# for FUZZ_SECONDS each by scripts/fuzz.sh; crashes land in build-fuzz/crashes/.
FUZZ_BINS := $(patsubst test/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard test/fuzz/*.c))

$(BUILD)/fuzz/%: $(BUILD)/obj/test/fuzz/%.o $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: deps
	@scripts/fuzz.sh

bench: deps
	$(MAKE) all
	@scripts/bench.sh

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
