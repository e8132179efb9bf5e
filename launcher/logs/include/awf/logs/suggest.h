// `awf logs suggest`: the smallest allowlist file that lets through every
// name a log shows was asked for (allowed, denied, or let through by
// --policy-mode report), in the format --allow-domains-file and
// `awf policy check` read.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "awf/logs/entry.h"
#include "awf/policy/public_suffix.h"

namespace awf::logs {

struct SuggestOptions {
  // Names under one registrable domain (eTLD+1) are replaced by it once
  // this many different ones were asked for, or when it was asked for
  // itself (awf's plain entry covers the name and every name under it).
  // 0: never; each name stays as asked.
  std::size_t collapse = 2;
  std::string source;  // where the log came from, for the header comment
};

// The file's text: a header, then per entry a comment naming the names it
// covers with their request counts, and the entry. IP literals and ports
// other than 80 and 443 are listed in comments only: no domain entry lets
// them through.
std::string suggest_allowlist(const std::vector<LogEntry>& entries, const policy::PublicSuffixList& psl,
                              const SuggestOptions& options);

}  // namespace awf::logs
