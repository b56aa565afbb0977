# C++ wrapper (include/pekonode.hpp): its GoogleTest suite and its example.
#
#   make test-cpp      the Rust library, then tests/cpp (CMake + GoogleTest, under ASan/UBSan)
#                      into build/cpp/tests, run it and print its summary; then a smoke run of
#                      the example
#   make examples-cpp  examples/cpp/*.cpp into build/cpp/ (static link, strict C++17)
#
# Variables: CMAKE, CXX, CPP_TEST_ARGS (passed to the gtest binary, e.g.
# CPP_TEST_ARGS=--gtest_filter='Move.*'), CPP_SANITIZE=OFF (no ASan/UBSan), EXTRA_CXXFLAGS.
# Needs cmake, a C++17 compiler and GoogleTest (Debian: libgtest-dev; an installed CMake
# package or the sources under /usr/src/googletest both work).

CMAKE          ?= cmake
CPP_BUILD      := $(BUILD)/cpp
CPP_TEST_DIR   := $(CPP_BUILD)/tests
CPP_TEST_BIN   := $(CPP_TEST_DIR)/pekonode_cpp_tests
CPP_TEST_LOG   := $(CPP_BUILD)/test-cpp.log
CPP_HEADER     := include/pekonode.hpp
CPP_STD_FLAGS  := -std=c++17 -Wall -Wextra -Werror -pedantic -Iinclude
CPP_SANITIZE   ?= ON
CPP_TEST_ARGS  ?=

CPP_EXAMPLE_SRCS := $(wildcard examples/cpp/*.cpp)
CPP_EXAMPLE_BINS := $(patsubst examples/cpp/%.cpp,$(CPP_BUILD)/%,$(CPP_EXAMPLE_SRCS))

# Any sanitizer finding fails the run, leaks included (peko_nodes_free, peko_event_clear,
# peko_free behind the wrapper's RAII).
CPP_ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1 \
                UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: test-cpp examples-cpp

test-cpp: lib examples-cpp
	@command -v $(CMAKE) >/dev/null 2>&1 || { echo "test-cpp: '$(CMAKE)' not found; install cmake" >&2; exit 1; }
	@mkdir -p $(CPP_TEST_DIR)
	CXX="$(CXX)" $(CMAKE) -S tests/cpp -B $(CPP_TEST_DIR) -DPEKO_ROOT="$(CURDIR)" \
	    -DPEKO_STATIC_LIB="$(CURDIR)/$(STATIC_LIB)" -DPEKO_CPP_SANITIZE=$(CPP_SANITIZE)
	$(CMAKE) --build $(CPP_TEST_DIR)
	@rm -f $(CPP_TEST_LOG).rc
	@{ $(CPP_ASAN_ENV) ./$(CPP_TEST_BIN) $(CPP_TEST_ARGS); echo $$? > $(CPP_TEST_LOG).rc; } 2>&1 | tee $(CPP_TEST_LOG)
	@rc=$$(cat $(CPP_TEST_LOG).rc 2>/dev/null || echo 1); rm -f $(CPP_TEST_LOG).rc; \
	echo "test-cpp: gtest summary:"; \
	grep -E '^\[(==========|  PASSED  |  FAILED  )\]| FAILED TESTS?$$' $(CPP_TEST_LOG) | sed 's/^/  /'; \
	if [ "$$rc" -ne 0 ]; then echo "test-cpp: FAILED (exit status $$rc; log in $(CPP_TEST_LOG))" >&2; exit 1; fi
	./$(CPP_BUILD)/member --cycle 100 --seconds 1 --name smoke --data d --publish hello >/dev/null
	@./$(CPP_BUILD)/member --no-such-option >/dev/null 2>&1; rc=$$?; \
	if [ $$rc -ne 2 ]; then echo "test-cpp: member with a bad option exited $$rc, expected 2" >&2; exit 1; fi; \
	echo "test-cpp: C++ example smoke run OK"

examples-cpp: $(CPP_EXAMPLE_BINS)

$(CPP_BUILD)/%: examples/cpp/%.cpp $(CPP_HEADER) $(HEADER) $(STATIC_LIB) | $(CPP_BUILD)
	$(CXX) $(CPP_STD_FLAGS) $(EXTRA_CXXFLAGS) -o $@ $< $(STATIC_LIB) $(SYS_LIBS)

$(CPP_BUILD):
	@mkdir -p $@

TEST_EXTRA += test-cpp
EXAMPLES_EXTRA += examples-cpp
