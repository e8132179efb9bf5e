// The one rule for a test whose facility (root, a namespace, a program, a
// kernel feature) is missing here: skip and say what is missing, except when
// CI=true, where the same condition fails the test, so that a skip can never
// hide a broken feature in CI.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace awf::testing {

inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

}  // namespace awf::testing

#define AWF_REQUIRE_FACILITY(condition, what)                                    \
  do {                                                                           \
    if (!(condition)) {                                                          \
      if (::awf::testing::in_ci()) {                                             \
        FAIL() << "missing facility (CI=true makes this a failure): " << (what); \
      }                                                                          \
      GTEST_SKIP() << "missing facility: " << (what);                            \
    }                                                                            \
  } while (0)
