// Mount-spec expansion and validation with awf's messages.
#include "awf/cli/mounts.h"

#include <sys/stat.h>

#include <vector>

namespace awf::cli {

namespace {
bool name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

bool blank(std::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v') return false;
  }
  return true;
}

bool exists_on_disk(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0;
}
}  // namespace

Result<std::string> expand_variables(std::string_view text, const Environment& env) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$' || i + 1 >= text.size()) {
      out.push_back(text[i]);
      continue;
    }
    std::string name;
    std::size_t end = i;
    if (text[i + 1] == '{') {
      auto close = text.find('}', i + 2);
      if (close == std::string_view::npos) {
        out.push_back(text[i]);
        continue;
      }
      name = std::string(text.substr(i + 2, close - i - 2));
      bool valid = !name.empty() && name_start(name.front());
      for (char c : name) valid = valid && name_char(c);
      if (!valid) {
        out.push_back(text[i]);
        continue;
      }
      end = close;
    } else if (name_start(text[i + 1])) {
      std::size_t j = i + 1;
      while (j < text.size() && name_char(text[j])) ++j;
      name = std::string(text.substr(i + 1, j - i - 1));
      end = j - 1;
    } else {
      out.push_back(text[i]);
      continue;
    }
    auto it = env.find(name);
    if (it == env.end()) return Error{"Environment variable is not set: ${" + name + "}"};
    out += it->second;
    i = end;
  }
  return out;
}

Result<Mount> parse_mount(std::string_view spec, const Environment& env,
                          const std::function<bool(const std::string&)>& path_exists) {
  auto expanded = expand_variables(spec, env);
  if (!expanded.ok()) return expanded.error();
  const std::string& s = *expanded;

  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    auto colon = s.find(':', start);
    parts.push_back(s.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  if (parts.size() < 2 || parts.size() > 3) return Error{"Mount must be in format host_path:container_path[:mode]"};
  const std::string& host = parts[0];
  const std::string& container = parts[1];
  if (blank(host)) return Error{"Host path cannot be empty"};
  if (blank(container)) return Error{"Container path cannot be empty"};
  if (host.front() != '/') return Error{"Host path must be absolute (start with /)"};
  if (container.front() != '/') return Error{"Container path must be absolute (start with /)"};
  std::string mode = parts.size() == 3 ? parts[2] : "";
  if (!mode.empty() && mode != "ro" && mode != "rw") return Error{"Mount mode must be either \"ro\" or \"rw\""};
  bool exists = path_exists ? path_exists(host) : exists_on_disk(host);
  if (!exists) return Error{"Host path does not exist: " + host};

  Mount m;
  m.spec = std::string(spec);
  m.host_path = host;
  m.container_path = container;
  m.read_only = mode == "ro";
  return m;
}

std::string mount_error_text(std::string_view spec, std::string_view reason) {
  return "[ERROR] Invalid volume mount: " + std::string(spec) + "\n[ERROR] Reason: " + std::string(reason);
}

}  // namespace awf::cli
