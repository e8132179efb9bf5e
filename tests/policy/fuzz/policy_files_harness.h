// The policy files awf reads (ruleset YAML, domains files, the network part
// of awf's config) under arbitrary content, shared by the policy_files fuzz
// target and policy_tests' corpus replay. The content is handed over as an
// in-memory file (/proc/self/fd/N of a memfd), so nothing touches the disk.
// check_policy_files() returns "" when every invariant held.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "awf/policy/ruleset.h"
#include "awf/policy/sources.h"

namespace awf::policy::fuzz {

// A file holding `content`, removed with the object.
class MemoryFile {
 public:
  explicit MemoryFile(std::string_view content) : fd_(::memfd_create("awf-fuzz", MFD_CLOEXEC)) {
    for (std::size_t at = 0; fd_ >= 0 && at < content.size();) {
      const ssize_t n = ::write(fd_, content.data() + at, content.size() - at);
      if (n <= 0) break;
      at += static_cast<std::size_t>(n);
    }
  }
  ~MemoryFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;
  bool ok() const { return fd_ >= 0; }
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_;
};

inline bool is_trimmed(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
  return !s.empty() && !space(s.front()) && !space(s.back());
}

inline std::string check_policy_files(std::string_view content) {
  MemoryFile file(content);
  if (!file.ok()) return "";  // no memfd: nothing to check
  const std::string path = file.path();

  std::vector<std::string> warnings;
  auto rules = read_ruleset_file(path, &warnings);
  if (rules) {
    std::set<std::string> seen;
    for (const auto& d : *rules) {
      if (!is_trimmed(d)) return "ruleset domain empty or untrimmed";
      if (!seen.insert(d).second) return "ruleset domain repeated";
    }
    // What a ruleset gives is compiled like any allowlist.
    PolicySpec spec;
    spec.allow = *rules;
    if (spec.allow.size() <= 64) (void)Ruleset::compile(spec);
  } else if (rules.message().rfind("Failed to load ruleset file: ", 0) != 0) {
    return "ruleset error without awf's prefix: " + rules.message();
  }

  auto domains = read_domains_file(path);
  if (!domains) return "domains file refused: " + domains.message();
  for (const auto& d : *domains) {
    if (!is_trimmed(d)) return "domains file entry empty or untrimmed";
    if (d.find('#') != std::string::npos || d.find('\n') != std::string::npos) return "domains file entry with # or LF";
    if (d.find(',') != std::string::npos) return "domains file entry with a comma";
  }

  auto config = read_awf_config(path);
  if (config) {
    for (const auto* list : {&config->allow_domains, &config->block_domains, &config->dns_servers}) {
      if (list->has_value() && (*list)->empty()) return "config list present but empty";
    }
  } else if (config.message().empty()) {
    return "config refused without a message";
  }
  return "";
}

}  // namespace awf::policy::fuzz
