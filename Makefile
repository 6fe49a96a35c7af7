# facewatch: setup, build, tests, conformance and benchmark. `make help` lists the targets.
# Every target skips what is already done, so running one twice is cheap.

SHELL := /bin/bash
.NOTPARALLEL:
.DEFAULT_GOAL := build

# The Swift toolchain: from PATH, else where the Swift Debian setup puts it.
SWIFT ?= $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)
# SwiftPM's build folder (a helper or CI may use its own).
SCRATCH ?= .build
# A Python 3 with venv (Debian: python3 + python3-venv); the scripts need only its standard library.
PYTHON ?= python3
export PYTHON

# One release build serves `make build`, `make run`, `make install`, `make deb` and the benchmarks:
# the Swift runtime linked in (--static-swift-stdlib, so the binary does not need the toolchain at
# run time), a build ID (debuggers and crash reports match the stripped binary to its symbols by it)
# and immediate binding (all relocations resolved at start, then read-only: Debian's hardening). It
# has a folder of its own, because the packaging tests run `make deb` while `swift test` holds
# SCRATCH; `make run` after `make test` finds it built.
RELEASE_SCRATCH ?= .build-release
RELEASE_BIN := $(RELEASE_SCRATCH)/release/facewatch
RELEASE_FLAGS := -c release --static-swift-stdlib -Xlinker --build-id=sha1 -Xlinker -z -Xlinker now
TEST_IMAGES := .cache/test-images
TOOLS_VENV := .venv-tools
# face_recognition with the plugins for WebP, HEIF and AVIF (scripts/requirements-reference-formats.txt).
REFERENCE_VENV := .venv-reference-formats
REFERENCE_REQUIREMENTS := scripts/requirements-reference-formats.txt
MODELS_SDIST := .cache/downloads/face_recognition_models-0.3.0.tar.gz
FIXTURE := Tests/FaceEncodingTests/Fixtures/conformance.jsonl

# make bench: the golden set when this checkout sits next to it, else the test images.
GOLDEN_IMAGES := ../shared/golden/images
BENCH_DIR = $(or $(DIR),$(if $(wildcard $(GOLDEN_IMAGES)),$(GOLDEN_IMAGES),$(TEST_IMAGES)))
BENCH_WORKERS ?= 1,2
# facewatch's detectors make bench runs; the CNN ones are compared with face_recognition's model="cnn".
BENCH_DETECTORS ?= hog,dlib-hog,cnn
# MODEL=FILE.jsonl ...: face_recognition's results for that model from an earlier reference_encode.py
# run with --summary, not run again (scripts/bench.py --recorded-reference).
BENCH_RECORDED ?=
# make conformance: facewatch's --detector (face_recognition runs model="cnn" for cnn and dlib-cnn).
DETECTOR ?= hog

# make install / uninstall (scripts/install.sh says what goes where). DESTDIR stages the tree for a
# package. PREFIX=/usr or /usr/local puts the unit, sysusers.d and tmpfiles.d files under PREFIX/lib,
# where systemd looks; any other PREFIX puts them in /etc, because systemd does not look in
# /opt/.../lib (UNITDIR, SYSUSERSDIR, TMPFILESDIR override). BIN=path installs that binary instead of
# building the release one: the install test passes the debug binary `swift test` already built.
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
DESTDIR ?=
BIN ?=
# The man page comes from swift-argument-parser's generate-manual tool (the program behind its
# generate-manual plugin), run on the binary being installed; it is built once, in debug (seconds).
GENERATE_MANUAL := $(SCRATCH)/debug/generate-manual
INSTALL_ENV = PREFIX="$(PREFIX)" SYSCONFDIR="$(SYSCONFDIR)" DESTDIR="$(DESTDIR)" \
    UNITDIR="$(UNITDIR)" SYSUSERSDIR="$(SYSUSERSDIR)" TMPFILESDIR="$(TMPFILESDIR)" \
    GENERATE_MANUAL="$(abspath $(GENERATE_MANUAL))"

# make deb (scripts/build_deb.sh says what goes in which package): the release build, stripped,
# staged by `make install PREFIX=/usr DESTDIR=…`, packaged with dpkg-deb into DEB_OUT. The version is
# the VERSION file's.
VERSION := $(shell tr -d '[:space:]' < VERSION)
MODELS_VERSION := $(shell sed -n 's/^version=//p' scripts/fetch_models.sh)
DEB_OUT ?= dist
DEB_WORK := $(RELEASE_SCRATCH)/deb-work
DEB := $(DEB_OUT)/facewatch_$(VERSION)_amd64.deb
MODELS_DEB := $(DEB_OUT)/facewatch-models_$(MODELS_VERSION)_all.deb
DEB_INPUTS := VERSION README.md scripts/install.sh scripts/build_deb.sh scripts/fetch_models.sh \
    models/SHA256SUMS $(wildcard packaging/* systemd/* examples/* docs/*)
# make deb-check: where it builds its Debian 12 root (deleted afterwards unless KEEP_ROOT=1).
DEB_CHECK_ROOT ?= /var/tmp/facewatch-deb-check

.PHONY: help deps models test-images reference-venv fixtures build run test check conformance bench \
        conformance-people bench-match bench-match-postgres conformance-people-groups bench-people people-venv \
        install uninstall manual deb deb-check clean distclean need-swift need-dir settings-table format lint fuzz

help:
	@echo "make deps          install the missing Debian packages (apt-get as root, else prints the command)"
	@echo "make models        fetch the four dlib models into models/ and verify their SHA-256"
	@echo "make build         the release binary, Swift runtime linked in ($(RELEASE_BIN))"
	@echo "make run           deps, models, build, then the daemon on ./var in the foreground (Ctrl-C stops it)"
	@echo "make test          deps, models, test images, the Debian packages, a throwaway PostgreSQL, then every test"
	@echo "make check         the development tier: unit and module tests (no end-to-end, no packaging, no package build)"
	@echo "make test-images   the conformance images in $(TEST_IMAGES)"
	@echo "make fuzz [FUZZ_SECONDS=60]   libFuzzer (clang-14, ASan + UBSan) on the image codec, one core; fails on a finding"
	@echo "make fixtures      regenerate $(FIXTURE) with face_recognition 1.3.0"
	@echo "make conformance DIR=folder [REFERENCE=file.jsonl] [DETECTOR=hog|dlib-hog|cnn|dlib-cnn]   face_recognition vs facewatch on a folder"
	@echo "make conformance-people KNOWN=folder DIR=folder   face_recognition's command line vs facewatch's matches"
	@echo "make bench-match [ROWS=1000000]   facewatch match: one query face against a generated table, one core"
	@echo "make bench-match-postgres [ROWS=1000000]   the same on a PostgreSQL ledger: the first call, then the cached table's"
	@echo "make conformance-people-groups [GOLDEN=folder]   the grouping into people vs scikit-learn's DBSCAN"
	@echo "make bench-people [PEOPLE_FACES=1000000]   grouping: full rebuild, one face added/removed, memory; one core"
	@echo "make bench [DIR=folder] [BENCH_RECORDED=cnn=run.jsonl]   facewatch vs face_recognition (images/s, ms per stage, memory), then the daemon: latency, ingest, RSS, scaling, start-up, memory budget"
	@echo "make install [PREFIX=/usr/local] [DESTDIR=dir] [SYSCONFDIR=/etc] [BIN=binary]   build, then install the"
	@echo "                   binary, systemd unit, sysusers/tmpfiles, models, docs, and a config never overwritten"
	@echo "make uninstall [PREFIX=/usr/local] [DESTDIR=dir]   remove what install added; keeps data and an edited config"
	@echo "make manual        the man page from the commands' help (generate-manual) in $(SCRATCH)/manual/"
	@echo "make deb           the Debian packages in $(DEB_OUT)/: facewatch_$(VERSION)_amd64.deb (Swift runtime linked in)"
	@echo "                   and facewatch-models_$(MODELS_VERSION)_all.deb"
	@echo "make deb-check     install, run, remove and purge the packages in a fresh Debian 12 root (debootstrap; minutes)"
	@echo "make format        reformat Sources/ and Tests/ with .swift-format; make lint: check only (CI runs it)"
	@echo "make settings-table   regenerate docs/configuration.md's settings table from Setting.all"
	@echo "make clean         remove build products and run outputs; make distclean: also caches, venvs, models"

deps:
	@scripts/install_deps.sh

models:
	@scripts/fetch_models.sh

test-images: $(TEST_IMAGES)/.complete
	@echo "test-images: $(TEST_IMAGES) is complete"

$(TEST_IMAGES)/.complete: scripts/make_test_images.py scripts/test-images.sha256 scripts/requirements-tools.txt
	@scripts/fetch_test_images.sh

# face_recognition 1.3.0 (with pillow-heif) in its own virtualenv; its models package comes from the
# archive `make models` fetched.
reference-venv:
	@scripts/venv.sh --check $(REFERENCE_VENV) $(REFERENCE_REQUIREMENTS) $(MODELS_SDIST) || { \
	    scripts/fetch_models.sh --sdist >/dev/null && \
	    scripts/venv.sh $(REFERENCE_VENV) $(REFERENCE_REQUIREMENTS) $(MODELS_SDIST); }

fixtures: $(FIXTURE)
	@echo "fixtures: $(FIXTURE) is current (inputs: the test images, scripts/reference_encode.py)"

$(FIXTURE): $(TEST_IMAGES)/.complete scripts/reference_encode.py $(REFERENCE_REQUIREMENTS) | reference-venv
	@echo "fixtures: face_recognition 1.3.0 on $(TEST_IMAGES) ..."
	@$(REFERENCE_VENV)/bin/python scripts/reference_encode.py $(TEST_IMAGES) --out .cache/fixture.jsonl.tmp
	@mv .cache/fixture.jsonl.tmp $@
	@$(PYTHON) -c 'import json, sys; lines = [json.loads(l) for l in open(sys.argv[1])]; \
	    print("fixtures: wrote", sys.argv[1] + ":", len(lines), "images,", \
	          sum(len(l.get("faces", [])) for l in lines), "faces,", \
	          sum("expect_error" in l for l in lines), "expected errors")' $@

need-swift:
	@command -v "$(SWIFT)" >/dev/null 2>&1 || { \
	    echo "swift not found (PATH or /opt/swift/usr/bin): install the Swift toolchain from https://swift.org/install" >&2; \
	    exit 1; }

build: need-swift
	$(SWIFT) build $(RELEASE_FLAGS) --product facewatch --scratch-path $(RELEASE_SCRATCH)

run: deps models build
	@echo "facewatch: starting the daemon on $(CURDIR)/var"
	@echo "  drop images into   $(CURDIR)/var/inbox  (cp, mv, or $(RELEASE_BIN) submit --root ./var FILE)"
	@echo "  results appear in  $(CURDIR)/var/results/<uuid>.json  (totals: var/stats.json, $(RELEASE_BIN) status --root ./var)"
	@echo "  stop with Ctrl-C   (the files being encoded are finished first; a second Ctrl-C exits at once)"
	$(RELEASE_BIN) serve --root ./var

# The package is built before the tests, which inspect it (DebianPackageTests): its static release
# build cannot be shared with the debug build `swift test` makes. Not on systems without dpkg-deb.
# generate-manual is built first too: the install tests run `make install` while `swift test` holds
# the build folder.
# The PostgreSQL ledger's tests run against a throwaway cluster (scripts/test_postgres.sh), found
# through FACEWATCH_TEST_POSTGRES (its socket directory) and stopped afterwards, pass or fail.
test: deps models test-images need-swift $(GENERATE_MANUAL) $(if $(shell command -v dpkg-deb 2>/dev/null),deb)
	pg=$$(scripts/test_postgres.sh start) && trap 'scripts/test_postgres.sh stop "$$pg"' EXIT && \
	    FACEWATCH_TEST_POSTGRES="$$pg/socket" $(SWIFT) test --no-parallel --scratch-path $(SCRATCH)

# The development tier: every test but the end-to-end (tag endToEnd: Tests/EndToEndTests) and
# packaging ones (tag packaging: Tests/PackagingTests); no package build. `make test` runs them all.
check: deps models test-images need-swift
	pg=$$(scripts/test_postgres.sh start) && trap 'scripts/test_postgres.sh stop "$$pg"' EXIT && \
	    FACEWATCH_TEST_POSTGRES="$$pg/socket" $(SWIFT) test --no-parallel --scratch-path $(SCRATCH) \
	    --skip '^EndToEndTests\.' --skip '^PackagingTests\.'

# The codec's fuzz target (fuzz/codec_fuzzer.c) for FUZZ_SECONDS on one core, seeded from the codec
# fixtures and the test images; fails on a crash, leak or undefined behaviour (scripts/fuzz.sh).
FUZZ_SECONDS ?= 60
fuzz: test-images
	@FUZZ_SECONDS="$(FUZZ_SECONDS)" scripts/fuzz.sh

# docs/configuration.md's settings table, regenerated from Sources/FaceRoot/Configuration/Setting.swift.
settings-table: need-swift
	FACEWATCH_UPDATE_DOCS=1 $(SWIFT) test --scratch-path $(SCRATCH) --filter SettingsTableTests/configurationPageShowsTheTable

# Formatting: .swift-format is the style; `make lint` (run by CI) fails on any difference.
SWIFT_SOURCES := Sources Tests Package.swift
format: need-swift
	$(SWIFT) format format --in-place --parallel --recursive $(SWIFT_SOURCES)

lint: need-swift
	$(SWIFT) format lint --strict --parallel --recursive $(SWIFT_SOURCES)

need-dir:
	@if [ -z "$(DIR)" ]; then echo "usage: make conformance DIR=folder [REFERENCE=reference.jsonl] [DETECTOR=hog|dlib-hog|cnn|dlib-cnn]" >&2; exit 2; fi

conformance: need-dir models build
	@if [ -z "$(REFERENCE)" ]; then $(MAKE) --no-print-directory reference-venv; fi
	@REFERENCE_PYTHON=$(REFERENCE_VENV)/bin/python scripts/conformance.sh "$(DIR)" "$(RELEASE_BIN)" "$(REFERENCE)" "$(DETECTOR)"

bench: models build reference-venv $(if $(filter $(TEST_IMAGES),$(BENCH_DIR)),test-images)
	@$(PYTHON) scripts/bench.py "$(BENCH_DIR)" --facewatch "$(RELEASE_BIN)" \
	    --reference-python $(REFERENCE_VENV)/bin/python --workers "$(BENCH_WORKERS)" --detectors "$(BENCH_DETECTORS)" \
	    $(foreach r,$(BENCH_RECORDED),--recorded-reference $(r))
	$(SWIFT) build $(RELEASE_FLAGS) --product facewatch-bench-root --scratch-path $(RELEASE_SCRATCH)
	@$(PYTHON) scripts/bench_daemon.py "$(BENCH_DIR)" --facewatch "$(RELEASE_BIN)" \
	    --bench-root "$(RELEASE_SCRATCH)/release/facewatch-bench-root"
	@$(MAKE) --no-print-directory bench-match

# The face search (`facewatch match`) on a generated table of ROWS faces: the query time on one core.
ROWS ?= 1000000
bench-match: need-swift
	$(SWIFT) build $(RELEASE_FLAGS) --product MatchBench --scratch-path $(RELEASE_SCRATCH)
	$(RELEASE_SCRATCH)/release/MatchBench $(ROWS) 50 $(CURDIR)/.cache/bench-match.f32

# The same search on a PostgreSQL ledger of ROWS faces (a throwaway cluster): the first `match` builds
# this host's cached table, each later one maps it and checks the face log.
bench-match-postgres: need-swift
	$(SWIFT) build $(RELEASE_FLAGS) --product MatchBench --scratch-path $(RELEASE_SCRATCH)
	@pg=$$(scripts/test_postgres.sh start) && \
	    psql -h "$$pg/socket" -U postgres -d postgres -qAt -c "CREATE DATABASE bench_match" && \
	    $(RELEASE_SCRATCH)/release/MatchBench --postgres "postgres://postgres@/bench_match?host=$$pg/socket" $(ROWS) 20 \
	        $(CURDIR)/.cache/bench-match-postgres; status=$$?; scripts/test_postgres.sh stop "$$pg"; exit $$status

# The grouping of faces into people (docs/people.md) against scikit-learn's DBSCAN, on the golden
# set's faces and 10,000 generated ones, with the quality sweep over the settings.
PEOPLE_VENV := .venv-people
GOLDEN ?= ../shared/golden
people-venv:
	@scripts/venv.sh $(PEOPLE_VENV) scripts/requirements-people.txt

conformance-people-groups: need-swift people-venv
	@if [ ! -f "$(GOLDEN)/reference.jsonl" ]; then \
	    echo "conformance-people-groups: no $(GOLDEN)/reference.jsonl (set GOLDEN=folder)" >&2; exit 2; fi
	$(SWIFT) build $(RELEASE_FLAGS) --product PeopleGroupingTool --scratch-path $(RELEASE_SCRATCH)
	@$(PEOPLE_VENV)/bin/python scripts/conformance_people_groups.py --tool $(RELEASE_SCRATCH)/release/PeopleGroupingTool \
	    --golden "$(GOLDEN)" --sweep

# The grouping on PEOPLE_FACES generated faces, one core: the full rebuild, adding and removing one
# face, the memory.
PEOPLE_FACES ?= 1000000
bench-people: need-swift
	$(SWIFT) build $(RELEASE_FLAGS) --product PeopleGroupingTool --scratch-path $(RELEASE_SCRATCH)
	$(RELEASE_SCRATCH)/release/PeopleGroupingTool bench $(PEOPLE_FACES) 200

# face_recognition's command line (`face_recognition --tolerance 0.6 --show-distance true KNOWN DIR`)
# against the names and distances facewatch's daemon gives the same photos (scripts/conformance_people.py).
conformance-people: models build reference-venv
	@if [ -z "$(KNOWN)" ] || [ -z "$(DIR)" ]; then \
	    echo "usage: make conformance-people KNOWN=folder DIR=folder" >&2; exit 2; fi
	@$(PYTHON) scripts/conformance_people.py "$(KNOWN)" "$(DIR)" --facewatch "$(RELEASE_BIN)" \
	    --reference-cli $(REFERENCE_VENV)/bin/face_recognition --models models

install: models $(if $(BIN),,build) $(GENERATE_MANUAL)
	@BIN="$(or $(BIN),$(RELEASE_BIN))" $(INSTALL_ENV) scripts/install.sh

# Built only when missing (the tests run `make install` while `swift test` holds the build folder).
$(GENERATE_MANUAL): | need-swift
	$(SWIFT) build --product generate-manual --scratch-path $(SCRATCH)

# The man page alone, from the release binary: $(SCRATCH)/manual/facewatch.1 (`man -l` shows it).
manual: build $(GENERATE_MANUAL)
	@mkdir -p $(SCRATCH)/manual
	$(GENERATE_MANUAL) $(RELEASE_BIN) --output-directory $(SCRATCH)/manual
	@sed -i -e 's/^$$/.Pp/' $(SCRATCH)/manual/facewatch.1
	@echo "manual: $(SCRATCH)/manual/facewatch.1"

uninstall:
	@$(INSTALL_ENV) scripts/uninstall.sh

# SwiftPM decides what to rebuild; the packages are remade when the binary or a packaged file changed.
deb: need-swift models
	$(SWIFT) build $(RELEASE_FLAGS) --product facewatch --scratch-path $(RELEASE_SCRATCH)
	@$(MAKE) --no-print-directory $(DEB)
	@echo "deb: $(DEB) and $(MODELS_DEB) are current"

$(DEB) $(MODELS_DEB) &: $(RELEASE_BIN) $(DEB_INPUTS)
	@command -v dpkg-deb >/dev/null && command -v dpkg-shlibdeps >/dev/null || { \
	    echo "deb: dpkg-deb and dpkg-shlibdeps are missing: make deps (Debian package dpkg-dev)" >&2; exit 1; }
	@rm -rf $(DEB_WORK) && mkdir -p $(DEB_WORK)
	strip --remove-section=.comment --remove-section=.note -o $(DEB_WORK)/facewatch $(RELEASE_BIN)
	@$(MAKE) --no-print-directory install PREFIX=/usr SYSCONFDIR=/etc UNITDIR= SYSUSERSDIR= TMPFILESDIR= \
	    DESTDIR="$(CURDIR)/$(DEB_WORK)/debian/facewatch" BIN="$(CURDIR)/$(DEB_WORK)/facewatch" \
	    > $(DEB_WORK)/install.log
	@scripts/build_deb.sh $(DEB_WORK) $(DEB_OUT)

deb-check: deb test-images
	@DEB="$(DEB)" MODELS_DEB="$(MODELS_DEB)" ROOT="$(DEB_CHECK_ROOT)" IMAGES="$(TEST_IMAGES)" \
	    scripts/deb_check.sh

clean:
	rm -rf $(SCRATCH) $(RELEASE_SCRATCH) .build-static $(DEB_OUT) .cache/conformance .cache/bench .cache/test-images.partial models/.unpack

distclean: clean
	rm -rf .cache $(TOOLS_VENV) $(REFERENCE_VENV) models/*.dat
