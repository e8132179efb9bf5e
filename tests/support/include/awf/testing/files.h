// Files and bytes for tests: a temporary directory removed at the end,
// whole-file read/write, a deterministic byte pattern and SHA-256 hashes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace awf::testing {

class TempDir {
 public:
  TempDir();   // under $TMPDIR or /tmp, named awf-test-XXXXXX
  ~TempDir();  // removes the tree
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

void write_file(const std::string& path, std::string_view content);
std::string read_file(const std::string& path);  // empty when missing

// n bytes of a fixed pseudo-random pattern (same n, same bytes).
std::string pattern_bytes(std::size_t n);
// The bytes [offset, offset+n) of the same pattern.
void pattern_fill(char* out, std::size_t offset, std::size_t n);
std::string sha256_hex(std::string_view data);
std::string sha256_file_hex(const std::string& path);
// SHA-256 of pattern_bytes(n) without building it in memory.
std::string pattern_sha256_hex(std::size_t n);

}  // namespace awf::testing
