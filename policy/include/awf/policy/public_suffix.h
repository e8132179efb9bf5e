// Registrable domains (eTLD+1) from the Public Suffix List, as Debian's
// `publicsuffix` package ships it: "api.github.com" -> "github.com",
// "a.b.example.co.uk" -> "example.co.uk". Used to group names the way their
// owners do (`awf logs suggest`).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "awf/result.h"

namespace awf::policy {

inline constexpr const char* kPublicSuffixListPath = "/usr/share/publicsuffix/public_suffix_list.dat";

class PublicSuffixList {
 public:
  // The list's text: one rule per line ("com", "*.ck", "!www.ck"), "//"
  // comments and blank lines skipped, rules lower-cased.
  static PublicSuffixList parse(std::string_view text);
  // Reads and parses the file; an error names the path.
  static Result<PublicSuffixList> load(const std::string& path = kPublicSuffixListPath);

  // The registrable domain of a host name (lower case, no trailing dot):
  // its public suffix plus one label. nullopt when the name is a public
  // suffix itself, empty, or an IP address. A name under no rule has the
  // last label as its suffix (the list's implicit "*" rule).
  std::optional<std::string> registrable_domain(std::string_view host) const;

  std::size_t size() const { return rules_.size() + wildcards_.size() + exceptions_.size(); }

 private:
  std::unordered_set<std::string> rules_;       // "co.uk"
  std::unordered_set<std::string> wildcards_;   // "ck" for "*.ck"
  std::unordered_set<std::string> exceptions_;  // "www.ck" for "!www.ck"
};

}  // namespace awf::policy
