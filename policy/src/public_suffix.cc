// Public Suffix List lookups; see public_suffix.h.
#include "awf/policy/public_suffix.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <vector>

#include "awf/errno_text.h"
#include "awf/policy/host.h"

namespace awf::policy {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

}  // namespace

PublicSuffixList PublicSuffixList::parse(std::string_view text) {
  PublicSuffixList list;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    // A rule is the line's first word; the rest, and comment lines, are not.
    const auto word_end = line.find_first_of(" \t\r");
    line = line.substr(0, word_end);
    if (line.empty() || line.starts_with("//")) continue;
    if (line.front() == '!') {
      list.exceptions_.insert(lower(line.substr(1)));
    } else if (line.starts_with("*.")) {
      list.wildcards_.insert(lower(line.substr(2)));
    } else {
      list.rules_.insert(lower(line));
    }
  }
  return list;
}

Result<PublicSuffixList> PublicSuffixList::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error{"cannot read the public suffix list " + path + ": " + errno_text(errno)};
  std::stringstream text;
  text << in.rdbuf();
  return parse(text.str());
}

std::optional<std::string> PublicSuffixList::registrable_domain(std::string_view host) const {
  if (host.empty() || host.front() == '.' || host.back() == '.' || parse_ip_literal(host)) return std::nullopt;
  // Label start offsets, right to left: candidates are host.substr(starts[i]).
  std::vector<std::size_t> starts;
  for (std::size_t i = host.size(); i > 0; --i) {
    if (host[i - 1] == '.') starts.push_back(i);
  }
  starts.push_back(0);  // the whole name; starts[k] begins the last k+1 labels
  std::size_t suffix_labels = 1;  // the implicit "*" rule
  for (std::size_t k = 0; k < starts.size(); ++k) {
    const std::string candidate(host.substr(starts[k]));
    const std::size_t labels = k + 1;
    if (exceptions_.contains(candidate)) {
      // An exception wins over everything: its suffix is the rule less its first label.
      suffix_labels = labels - 1;
      break;
    }
    if (rules_.contains(candidate)) suffix_labels = std::max(suffix_labels, labels);
    if (k > 0 && wildcards_.contains(std::string(host.substr(starts[k - 1])))) {
      suffix_labels = std::max(suffix_labels, labels);
    }
  }
  if (suffix_labels >= starts.size()) return std::nullopt;  // the name is a public suffix
  return std::string(host.substr(starts[suffix_labels]));
}

}  // namespace awf::policy
