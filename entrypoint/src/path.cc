// Rebuilds PATH for host binaries in awf's order.
#include "awf/entrypoint/path.h"

#include <algorithm>
#include <deque>

namespace awf::entrypoint {
namespace {

// A PATH being built: prepend/append, first occurrence wins on output.
class SearchPath {
 public:
  void prepend(const std::string& dir) {
    if (!dir.empty()) dirs_.push_front(dir);
  }
  void append(const std::string& dir) {
    if (!dir.empty()) dirs_.push_back(dir);
  }
  void append_list(std::string_view list) {
    size_t start = 0;
    while (start <= list.size()) {
      size_t end = list.find(':', start);
      if (end == std::string_view::npos) end = list.size();
      append(std::string(list.substr(start, end - start)));
      start = end + 1;
    }
  }
  std::string str() const {
    std::vector<std::string> seen;
    std::string out;
    for (const auto& d : dirs_) {
      if (std::find(seen.begin(), seen.end(), d) != seen.end()) continue;
      seen.push_back(d);
      if (!out.empty()) out += ':';
      out += d;
    }
    return out;
  }

 private:
  std::deque<std::string> dirs_;
};

}  // namespace

std::vector<std::string> parse_github_path(std::string_view content) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < content.size()) {
    size_t end = content.find('\n', start);
    if (end == std::string_view::npos) end = content.size();
    std::string line(content.substr(start, end - start));
    start = end + 1;
    line.erase(std::remove(line.begin(), line.end(), '\r'), line.end());
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

PathResult build_path(const PathInputs& in) {
  PathResult result;
  SearchPath path;
  auto is_dir = [&](const std::string& d) { return in.is_dir && in.is_dir(d); };
  auto prepend_github_path = [&] {
    // Later lines of $GITHUB_PATH take precedence, as in Actions.
    for (const auto& dir : in.github_path) path.prepend(dir);
  };

  if (!in.host_path.empty()) {
    path.append_list(in.host_path);
    prepend_github_path();
  } else {
    path.append_list(kStandardPath);
    prepend_github_path();
    // Tool caches come after everything the runner put on PATH explicitly.
    for (const std::string& pattern : {std::string("/opt/hostedtoolcache/*/*/*/bin"), in.home + "/work/_tool/*/*/*/bin"}) {
      if (!in.glob) break;
      for (const auto& dir : in.glob(pattern)) path.append(dir);
    }
    if (is_dir(in.home + "/.local/bin")) path.prepend(in.home + "/.local/bin");
  }

  // Toolchains, in awf's order: each prepend wins over the previous one, so
  // the result reads Bun > Go > .NET > Java > Cargo > the rest.
  const Toolchains& tc = in.toolchains;
  if (!tc.cargo_home.empty()) {
    path.prepend(tc.cargo_home + "/bin");
    result.exports.emplace_back("CARGO_HOME", tc.cargo_home);
  } else if (is_dir(in.home + "/.cargo/bin")) {
    path.prepend(in.home + "/.cargo/bin");
  }
  if (!tc.rustup_home.empty()) result.exports.emplace_back("RUSTUP_HOME", tc.rustup_home);
  if (!tc.java_home.empty()) {
    path.prepend(tc.java_home + "/bin");
    result.exports.emplace_back("JAVA_HOME", tc.java_home);
    std::string ld = tc.java_home + "/lib:" + tc.java_home + "/lib/server";
    if (!in.ld_library_path.empty()) ld += ":" + in.ld_library_path;
    result.exports.emplace_back("LD_LIBRARY_PATH", ld);
  }
  if (!tc.dotnet_root.empty()) {
    path.prepend(tc.dotnet_root);
    result.exports.emplace_back("DOTNET_ROOT", tc.dotnet_root);
  }
  if (!tc.goroot.empty()) {
    path.prepend(tc.goroot + "/bin");
    result.exports.emplace_back("GOROOT", tc.goroot);
  }
  if (!tc.bun_install.empty()) {
    path.prepend(tc.bun_install + "/bin");
    result.exports.emplace_back("BUN_INSTALL", tc.bun_install);
  }

  // /usr is read-only: global npm installs go under $HOME (awf does the same).
  std::string npm_prefix = in.npm_config_prefix.empty() ? in.home + "/.npm-global" : in.npm_config_prefix;
  result.exports.emplace_back("NPM_CONFIG_PREFIX", npm_prefix);
  path.prepend(npm_prefix + "/bin");

  result.path = path.str();
  return result;
}

}  // namespace awf::entrypoint
