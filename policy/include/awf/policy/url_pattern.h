// URL patterns of --allow-urls (awf's grammar for SSL-bumped requests):
// validated with awf's messages and turned into the regular expressions
// awf gives Squid's url_regex, then matched on the URL of each decrypted
// request (https://host[:port]/path?query). Shared by awf (flag checks) and
// awf-proxy (the decisions).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "awf/result.h"

namespace awf::policy {

struct UrlPattern {
  std::string text;   // as the user wrote it
  std::string regex;  // anchored at the start; at the end unless it ends in a wildcard
};

// One pattern: must start with https://, must name a path after the host,
// must not be so broad that it matches every host, and must not carry
// whitespace, quotes or control bytes. The errors are awf's.
Result<UrlPattern> parse_url_pattern(std::string_view text);

// A comma (or whitespace) separated list, as --allow-urls takes it; empty
// entries are skipped. The first bad pattern is the error.
Result<std::vector<UrlPattern>> parse_url_patterns(std::string_view list);

// The compiled patterns: one RE2 set, one pass per URL.
class UrlAllowlist {
 public:
  static Result<std::shared_ptr<const UrlAllowlist>> compile(std::vector<UrlPattern> patterns);
  ~UrlAllowlist();
  UrlAllowlist(const UrlAllowlist&) = delete;
  UrlAllowlist& operator=(const UrlAllowlist&) = delete;

  // The first pattern (in the order given) that `url` matches.
  const UrlPattern* match(std::string_view url) const;
  const std::vector<UrlPattern>& patterns() const { return patterns_; }

 private:
  UrlAllowlist();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<UrlPattern> patterns_;
};

}  // namespace awf::policy
