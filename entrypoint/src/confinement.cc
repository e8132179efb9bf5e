// Verifies the confinement from the kernel's own report (proc(5) status).
#include "awf/entrypoint/confinement.h"

#include <algorithm>
#include <fmt/format.h>
#include <map>
#include <sstream>
#include <vector>

namespace awf::entrypoint {
namespace {

std::map<std::string, std::string> fields(std::string_view text) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    out.emplace(std::string(line.substr(0, colon)), std::string(value));
  }
  return out;
}

std::vector<unsigned long> numbers(const std::string& value) {
  std::vector<unsigned long> out;
  std::istringstream in(value);
  unsigned long n;
  while (in >> n) out.push_back(n);
  return out;
}

}  // namespace

Status check_confinement(std::string_view proc_status, const Identity& id) {
  const auto f = fields(proc_status);
  std::vector<std::string> failures;
  auto get = [&](const char* key) -> const std::string* {
    auto it = f.find(key);
    if (it == f.end()) {
      failures.push_back(fmt::format("{} missing", key));
      return nullptr;
    }
    return &it->second;
  };
  for (const char* key : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) {
    if (const auto* v = get(key); v && v->find_first_not_of('0') != std::string::npos) {
      failures.push_back(fmt::format("{} is {}, expected 0", key, *v));
    }
  }
  if (const auto* v = get("NoNewPrivs"); v && *v != "1") failures.push_back(fmt::format("NoNewPrivs is {}", *v));
  if (const auto* v = get("Seccomp"); v && *v != "2") failures.push_back(fmt::format("Seccomp is {}", *v));
  auto check_ids = [&](const char* key, unsigned long want) {
    const auto* v = get(key);
    if (!v) return;
    auto ids = numbers(*v);
    if (ids.size() != 4 || std::any_of(ids.begin(), ids.end(), [&](unsigned long x) { return x != want; })) {
      failures.push_back(fmt::format("{} is \"{}\", expected {} four times", key, *v, want));
    }
  };
  check_ids("Uid", id.uid);
  check_ids("Gid", id.gid);
  if (const auto* v = get("Groups")) {
    auto have = numbers(*v);
    std::vector<unsigned long> want(id.groups.begin(), id.groups.end());
    std::sort(have.begin(), have.end());
    std::sort(want.begin(), want.end());
    if (have != want) failures.push_back(fmt::format("Groups is \"{}\", expected {}", *v, fmt::join(want, " ")));
  }
  if (failures.empty()) return ok_status();
  return Error{fmt::format("Confinement check failed, refusing to run the command: {}", fmt::join(failures, "; "))};
}

}  // namespace awf::entrypoint
