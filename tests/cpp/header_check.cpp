// pekonode.hpp stands alone, survives double inclusion and compiles under
// -std=c++17 -Wall -Wextra -Werror -pedantic (this file has no main).
#include "pekonode.hpp"
#include "pekonode.hpp"

namespace {
[[maybe_unused]] const char* header_check_version() { return peko::status_str(PEKO_OK); }
}  // namespace
