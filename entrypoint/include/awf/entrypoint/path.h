// The command's PATH and toolchain variables, rebuilt in awf's order
// (build_path_script): PATH never comes from outside.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "awf/entrypoint/config.h"

namespace awf::entrypoint {

inline constexpr const char* kStandardPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct PathInputs {
  std::string host_path;                  // AWF_HOST_PATH; empty: standard dirs + discovery
  std::vector<std::string> github_path;   // $GITHUB_PATH file entries, in file order
  std::string home;
  Toolchains toolchains;
  std::string ld_library_path;            // the incoming value, extended for Java
  std::string npm_config_prefix;          // the incoming value; default $HOME/.npm-global
  // Questions about the command's root (tests answer them from a table).
  std::function<bool(const std::string&)> is_dir;
  std::function<std::vector<std::string>(const std::string&)> glob;  // sorted matches
};

struct PathResult {
  std::string path;
  std::vector<std::pair<std::string, std::string>> exports;  // GOROOT, JAVA_HOME, ...
};

// $GITHUB_PATH file content -> entries (CR stripped, blanks dropped).
std::vector<std::string> parse_github_path(std::string_view content);

PathResult build_path(const PathInputs& in);

}  // namespace awf::entrypoint
