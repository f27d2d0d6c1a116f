# georoute: one GNU Makefile (HAProxy model). `make V=1` shows full commands.
#
#   make            build ./georoute
#   make demo       run georoute in front of three local regions
#   make test       unit + integration tests; last line "N passed, N failed"
#   make test-asan  the same suite built with ASan+UBSan (into build-asan/)
#   make bench      throughput/latency/memory against HAProxy and nginx
#   make deps       install missing Debian packages (root) or print the apt line
#   make install    binary, man page, example config, systemd unit, logrotate
#                   snippet under PREFIX (default /usr/local), DESTDIR honoured
#   make geodb      fetch a free city-level GeoIP database into GEODB_DIR (npm)

BUILD     ?= build
CC        ?= cc
PKGS      := libuv libcares libmaxminddb yaml-0.1 openssl libnghttp2
LLHTTP_DIR ?= /usr/share/llhttp
LLHTTP_INC ?= /usr/share/include/llhttp
SAN       ?=

WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CPPFLAGS  += -D_GNU_SOURCE -DLLHTTP_STRICT_MODE=1 -I. -I$(LLHTTP_INC)
# OPT is the optimisation level; CFLAGS and LDFLAGS given on the command line
# are added to ours, never replace them (the sanitizer build relies on it).
OPT       ?= -O2 -g
# Link-time optimisation lets the compiler inline across files: the stream
# layer's calls, the freelist and the field helpers are small and called
# per request. It cuts about 3% of the instructions of an HTTP/2 request
# (bench/RESULTS.md). The sanitizer build goes without (LTO=): it builds
# faster, and its reports keep every frame.
LTO       ?= -flto=auto
ALL_CFLAGS = -std=c11 -pthread -MMD -MP $(SAN) $(OPT) $(LTO) $(CFLAGS)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS    += $(PKG_LIBS) -pthread -lm
ALL_LDFLAGS = $(SAN) $(OPT) $(LTO) $(WARN) $(LDFLAGS)

ifeq ($(V),1)
Q :=
else
Q := @
endif
quiet = $(if $(Q),@printf '  %-6s %s\n' '$(1)' '$(2)';)

PROXY_SRC := $(wildcard proxy/*/*.c)
LIB_SRC   := $(PROXY_SRC) $(wildcard geo/*.c) $(wildcard conf/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/admin_page.o
VENDOR_OBJ := $(addprefix $(BUILD)/vendor/,llhttp.o api.o http.o)
UNIT_SRC  := $(wildcard tests/unit/*.c tests/unit/*/*.c tests/unit/*/*/*.c)
UNIT_OBJ  := $(UNIT_SRC:%.c=$(BUILD)/%.o)
TOOL_SRC  := $(wildcard tests/tools/*.c bench/*.c)
TOOL_BIN  := $(TOOL_SRC:%.c=$(BUILD)/%)
NPM_GEO_DB := $(BUILD)/npm/node_modules/@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb

all: georoute

# Phony, and copied whenever it differs: after `make test-asan` (BUILD=build-asan)
# ./georoute is the sanitized binary, and a plain `make` must put the -O2 one
# back even though the file is newer than build/georoute.
georoute: $(BUILD)/georoute
	$(Q)cmp -s $< $@ || { cp $< $@.tmp && mv -f $@.tmp $@; }

$(BUILD)/georoute: $(BUILD)/proxy/main.o $(BUILD)/libgeoroute.a
	$(call quiet,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# An archive, so a unit test that #includes a .c to reach its statics does
# not also pull that object in and collide.
$(BUILD)/libgeoroute.a: $(LIB_OBJ) $(VENDOR_OBJ)
	$(call quiet,AR,$@)rm -f $@ && ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(ALL_CFLAGS) $(WARN) -c -o $@ $<

# /metrics reports the git revision it was built from (build_info).
GIT_REV := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
$(BUILD)/proxy/admin/metrics.o: CPPFLAGS += -DPX_REVISION='"$(GIT_REV)"'

# The admin status page is an HTML file compiled in as a byte array (od is
# POSIX, so no xxd or objcopy tricks).
$(BUILD)/gen/admin_page.c: proxy/admin/page.html
	@mkdir -p $(dir $@)
	$(call quiet,GEN,$@){ echo '/* Generated from $< by the Makefile. */'; \
	  echo '#include "proxy/admin/page.h"'; echo 'const unsigned char px_admin_page[] = {'; \
	  od -An -v -tx1 $< | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; echo '0};'; \
	  echo 'const size_t px_admin_page_len = sizeof(px_admin_page) - 1;'; } > $@.tmp && mv -f $@.tmp $@

$(BUILD)/gen/admin_page.o: $(BUILD)/gen/admin_page.c
	$(call quiet,CC,$<)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(WARN) -c -o $@ $<

# llhttp is compiled from Debian's sources, never copied here, and never
# held to our warning flags.
$(BUILD)/vendor/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -w -c -o $@ $<

$(BUILD)/test-unit: $(UNIT_OBJ) $(BUILD)/libgeoroute.a
	$(call quiet,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/tools/%: tests/tools/%.c $(BUILD)/libgeoroute.a
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(ALL_CFLAGS) $(WARN) $(ALL_LDFLAGS) -o $@ $(filter %.c %.a,$^) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libgeoroute.a
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(ALL_CFLAGS) $(WARN) $(ALL_LDFLAGS) -o $@ $(filter %.c %.a,$^) $(LDLIBS)

tools: $(TOOL_BIN)

deps:
	$(Q).ci/deps build test

# The README's first command: georoute in front of three local regions.
demo:
	$(Q).ci/deps build demo
	$(Q)$(MAKE) --no-print-directory all tools
	$(Q)bench/demo

# The whole suite: unit tests (fork per test) then end-to-end tests against
# the real binary on loopback. tests/run sums the suites into one line.
test: deps
	$(Q)$(MAKE) --no-print-directory all tools $(BUILD)/test-unit
	$(Q)[ -f $(NPM_GEO_DB) ] || tests/fixtures/fetch-ip-location-db.sh $(BUILD) >/dev/null || \
	    echo "note: real-world geo database not installed; its test will be skipped"
	$(Q)tests/run $(BUILD)

test-asan:
	$(Q)$(MAKE) --no-print-directory test BUILD=build-asan CC=clang \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    OPT="-O1 -g" LTO=

check: test-asan

bench: deps
	$(Q).ci/deps bench
	$(Q)$(MAKE) --no-print-directory all tools
	$(Q)bench/run-bench $(BENCH_ARGS)

soak: deps
	$(Q)$(MAKE) --no-print-directory all tools
	$(Q)bench/soak $(SOAK_ARGS)

valgrind: deps
	$(Q)$(MAKE) --no-print-directory all tools
	$(Q)tests/valgrind $(VALGRIND_ARGS)

bench-geo: deps
	$(Q).ci/deps bench
	$(Q)$(MAKE) --no-print-directory all tools
	$(Q)bench/bench-geo $(BENCH_GEO_ARGS)

format:
	$(Q)clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	$(Q)clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

# Who may include whom: the thread boundary inside proxy/ and each library
# behind its one glue file (the rules are at the top of tests/check-deps);
# and comments and docs that name only what exists (tests/check-names).
check-deps:
	$(Q)tests/check-deps
	$(Q)tests/check-names

clean:
	rm -rf build build-asan build-fuzz georoute

.PHONY: all georoute deps demo test test-asan check bench format format-check check-deps clean tools

# ---------------------------------------------------------------- install
# `make install [PREFIX=/usr/local] [DESTDIR=]` installs the binary in sbin
# (a daemon, as nginx and haproxy do), georoute(8), a systemd unit, a
# logrotate snippet, and an example config with the small demo database it
# names, so that it passes `georoute --check` as installed. Every directory
# can be set on its own; the @NAME@ paths in the unit, the man page and the
# config are the final ones, without DESTDIR. LOGROTATEDIR stays
# /etc/logrotate.d whatever PREFIX is: logrotate reads nothing else. The
# config is installed only when none is there, never over an edited one;
# the same example is always refreshed in DATADIR.
PREFIX         ?= /usr/local
SBINDIR        ?= $(PREFIX)/sbin
MANDIR         ?= $(PREFIX)/share/man
DATADIR        ?= $(PREFIX)/share/georoute
SYSCONFDIR     ?= $(PREFIX)/etc
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
LOGROTATEDIR   ?= /etc/logrotate.d
INSTALL        ?= install
CONFFILE       := $(SYSCONFDIR)/georoute/georoute.yaml
SUBST = sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    -e 's|@DATADIR@|$(DATADIR)|g' -e 's|@SYSTEMDUNITDIR@|$(SYSTEMDUNITDIR)|g' \
	    -e 's|@LOGROTATEDIR@|$(LOGROTATEDIR)|g'

# Generated with the final paths; remade when a path changes.
$(BUILD)/dist/paths: FORCE
	@mkdir -p $(dir $@)
	$(Q)printf '%s\n' "$(SBINDIR)" "$(SYSCONFDIR)" "$(DATADIR)" "$(SYSTEMDUNITDIR)" \
	    "$(LOGROTATEDIR)" > $@.tmp && { cmp -s $@.tmp $@ && rm -f $@.tmp || mv -f $@.tmp $@; }
$(BUILD)/dist/georoute.service: dist/georoute.service.in $(BUILD)/dist/paths
	$(Q)$(SUBST) $< > $@
$(BUILD)/dist/georoute.8: docs/georoute.8.in $(BUILD)/dist/paths
	$(Q)$(SUBST) $< > $@
$(BUILD)/dist/georoute.yaml: conf/georoute.yaml dist/example-config $(BUILD)/dist/paths
	$(Q)dist/example-config $< $(DATADIR)/demo-geo.mmdb > $@.tmp && mv -f $@.tmp $@

install: $(BUILD)/georoute $(BUILD)/dist/georoute.service $(BUILD)/dist/georoute.8 \
	    $(BUILD)/dist/georoute.yaml
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DATADIR) \
	    $(DESTDIR)$(SYSCONFDIR)/georoute $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(LOGROTATEDIR)
	$(INSTALL) -m 755 $(BUILD)/georoute $(DESTDIR)$(SBINDIR)/georoute
	$(INSTALL) -m 644 $(BUILD)/dist/georoute.8 $(DESTDIR)$(MANDIR)/man8/georoute.8
	$(INSTALL) -m 644 conf/demo-geo.mmdb $(DESTDIR)$(DATADIR)/demo-geo.mmdb
	$(INSTALL) -m 644 $(BUILD)/dist/georoute.yaml $(DESTDIR)$(DATADIR)/georoute.yaml.example
	$(Q)if [ -e $(DESTDIR)$(CONFFILE) ]; then \
	    echo "kept $(DESTDIR)$(CONFFILE); the new example is $(DESTDIR)$(DATADIR)/georoute.yaml.example"; \
	else \
	    echo "$(INSTALL) -m 644 $(BUILD)/dist/georoute.yaml $(DESTDIR)$(CONFFILE)"; \
	    $(INSTALL) -m 644 $(BUILD)/dist/georoute.yaml $(DESTDIR)$(CONFFILE); \
	fi
	$(INSTALL) -m 644 $(BUILD)/dist/georoute.service $(DESTDIR)$(SYSTEMDUNITDIR)/georoute.service
	$(INSTALL) -m 644 dist/georoute.logrotate $(DESTDIR)$(LOGROTATEDIR)/georoute

# Removes what install put there, except a config that was edited.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/georoute $(DESTDIR)$(MANDIR)/man8/georoute.8 \
	    $(DESTDIR)$(SYSTEMDUNITDIR)/georoute.service $(DESTDIR)$(LOGROTATEDIR)/georoute
	$(Q)if cmp -s $(DESTDIR)$(CONFFILE) $(DESTDIR)$(DATADIR)/georoute.yaml.example; then \
	    echo "rm -f $(DESTDIR)$(CONFFILE)"; rm -f $(DESTDIR)$(CONFFILE); \
	elif [ -e $(DESTDIR)$(CONFFILE) ]; then \
	    echo "kept $(DESTDIR)$(CONFFILE): it differs from the installed example"; \
	fi
	rm -f $(DESTDIR)$(DATADIR)/georoute.yaml.example $(DESTDIR)$(DATADIR)/demo-geo.mmdb
	$(Q)rmdir $(DESTDIR)$(DATADIR) $(DESTDIR)$(SYSCONFDIR)/georoute 2>/dev/null || true

FORCE:

# A free city-level GeoIP database (DB-IP Lite, from npm) into GEODB_DIR;
# dist/fetch-geodb prints the geo.databases lines to use. Only ever run
# when asked: no other target depends on it. docs/GEOIP.md has the others.
GEODB_DIR ?= $(BUILD)/geodb

geodb:
	$(Q)dist/fetch-geodb $(GEODB_DIR)

.PHONY: install uninstall geodb FORCE

# ---------------------------------------------------------------- fuzzing
# libFuzzer targets (clang 14, -fsanitize=fuzzer,address,undefined), one
# binary per tests/fuzz/fuzz_*.c with the project sources it needs compiled
# in. `make fuzz` builds them into build-fuzz/ and runs each for
# FUZZ_SECONDS (default 60) on its corpus; `make fuzz-smoke` runs each for
# 10 s (CI). New inputs go to build-fuzz/corpus/<target>/: the committed
# seeds in tests/fuzz/corpus/<target>/ are only read. Crashing inputs land
# in build-fuzz/artifacts/; tests/fuzz/run prints executions per target.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD   ?= build-fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=c11 -pthread -g -O1 $(FUZZ_SAN) $(CPPFLAGS)
FUZZ_TARGETS := fuzz_request_head fuzz_response_head fuzz_response_quick fuzz_config \
                fuzz_proxyproto fuzz_zone fuzz_tls_server fuzz_xff fuzz_h2_server fuzz_rechunk
FUZZ_LLHTTP  := $(addprefix $(FUZZ_BUILD)/vendor/,llhttp.o api.o http.o)
FUZZ_SRC_fuzz_request_head  := proxy/proto/http1.c proxy/proto/field.c
FUZZ_SRC_fuzz_response_head := proxy/proto/http1.c proxy/proto/field.c
FUZZ_SRC_fuzz_response_quick := proxy/proto/http1.c proxy/proto/field.c
FUZZ_SRC_fuzz_rechunk       := proxy/proto/http1.c proxy/proto/field.c
FUZZ_SRC_fuzz_config        := $(wildcard conf/*.c)
FUZZ_SRC_fuzz_proxyproto    := proxy/proto/proxyproto.c
FUZZ_SRC_fuzz_xff           := proxy/proto/xff.c geo/addr.c $(wildcard conf/*.c)
FUZZ_SRC_fuzz_zone          := geo/zone.c geo/addr.c
FUZZ_SRC_fuzz_tls_server    := proxy/proto/tls.c proxy/state/tls_ctx.c proxy/base/px.c \
                               $(wildcard conf/*.c)
FUZZ_SRC_fuzz_h2_server     := proxy/proto/h2.c proxy/proto/field.c proxy/base/freelist.c

$(FUZZ_BUILD)/vendor/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -w -c -o $@ $<

define FUZZ_RULE
$(FUZZ_BUILD)/$(1): tests/fuzz/$(1).c $(wildcard tests/fuzz/*.h) $(FUZZ_SRC_$(1)) $(FUZZ_LLHTTP)
	@mkdir -p $$(dir $$@)
	$$(call quiet,FUZZ,$$@)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(PKG_CFLAGS) $(WARN) \
	    -o $$@ tests/fuzz/$(1).c $(FUZZ_SRC_$(1)) $(FUZZ_LLHTTP) $(LDLIBS)
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call FUZZ_RULE,$(t))))

fuzz: $(addprefix $(FUZZ_BUILD)/,$(FUZZ_TARGETS))
	$(Q)tests/fuzz/run $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-smoke:
	$(Q)$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10

.PHONY: fuzz fuzz-smoke

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
