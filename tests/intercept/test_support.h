// Shared test helpers: reading corpus files, and skipping a test whose
// facility is missing (a failure instead when CI=true, so CI never passes by
// skipping).
#pragma once

#include <gtest/gtest.h>

#include "awf/testing/facility.h"

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace awf::intercept::test {


inline std::vector<std::uint8_t> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline std::filesystem::path corpus_dir(const std::string& name) {
  return std::filesystem::path(AWF_INTERCEPT_CORPUS_DIR) / name;
}

// The part of a seed's file name before "__": what the parser must answer.
inline std::string expected_outcome(const std::filesystem::path& path) {
  const std::string stem = path.filename().string();
  const auto sep = stem.find("__");
  return sep == std::string::npos ? std::string() : stem.substr(0, sep);
}

}  // namespace awf::intercept::test

