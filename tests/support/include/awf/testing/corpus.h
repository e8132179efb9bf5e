// The seeds of a fuzz corpus, for the normal suites that replay them through
// a fuzz target's checks (so a kept crash fails the default and sanitizer
// builds too, without clang). Header-only: suites that link nothing else of
// the test support use it as well.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace awf::testing {

struct CorpusSeed {
  std::string name;   // the file name, for the failure message
  std::string bytes;  // its whole content
};

// Every file of `dir` but its notes (*.md) and hidden files, sorted by name.
inline std::vector<CorpusSeed> corpus_seeds(const std::filesystem::path& dir) {
  std::vector<CorpusSeed> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || entry.path().extension() == ".md" || name.front() == '.') continue;
    std::ifstream in(entry.path(), std::ios::binary);
    out.push_back({name, std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>())});
  }
  std::sort(out.begin(), out.end(), [](const CorpusSeed& a, const CorpusSeed& b) { return a.name < b.name; });
  return out;
}

}  // namespace awf::testing
