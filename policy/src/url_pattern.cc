// --allow-urls patterns: awf's validation and its conversion to url_regex
// (see url_pattern.h), matched with one RE2 set.
#include "awf/policy/url_pattern.h"

#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>

namespace awf::policy {

namespace {

constexpr std::string_view kScheme = "https://";

Error too_broad(std::string_view text) {
  return Error{"URL pattern \"" + std::string(text) + "\" is too broad and would bypass security controls"};
}

// Bytes that would end or split a url_regex line in Squid's configuration,
// or that no request URL carries (a fragment is never sent).
bool is_dangerous(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x21 || u == 0x7f || c == '"' || c == '\'' || c == '`' || c == '#';
}

// awf's conversion: one trailing '/' dropped; ".*" kept as a wildcard; a
// '*' matches within the host ([^\s/]*) or anywhere in the path ([^\s]*);
// regex metacharacters escaped; anchored at the start, and at the end
// unless the pattern ends in a wildcard.
std::string to_regex(std::string_view text) {
  std::string_view body = text;
  if (body.size() > kScheme.size() && body.back() == '/') body.remove_suffix(1);
  std::string out = "^";
  bool in_path = false;
  for (std::size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (i >= kScheme.size() && c == '/') in_path = true;
    if (c == '.' && i + 1 < body.size() && body[i + 1] == '*') {
      out += ".*";
      ++i;
    } else if (c == '*') {
      out += in_path ? "[^\\s]*" : "[^\\s/]*";
    } else if (std::string_view(".+?^${}()|[]\\").find(c) != std::string_view::npos) {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  if (body.empty() || body.back() != '*') out += '$';
  return out;
}

}  // namespace

Result<UrlPattern> parse_url_pattern(std::string_view text) {
  for (std::string_view broad : {"https://*", "https://*.*", "https://.*", ".*", "*"}) {
    if (text == broad) return too_broad(text);
  }
  if (!text.starts_with(kScheme)) {
    return Error{"URL patterns must start with https:// (got: " + std::string(text) +
                 "); only HTTPS requests are inspected, e.g. https://github.com/myorg/*"};
  }
  if (std::any_of(text.begin(), text.end(), is_dangerous)) {
    return Error{"URL pattern \"" + std::string(text) +
                 "\" contains whitespace, a quote, '#' or a control character, which a URL pattern must not"};
  }
  const std::string_view rest = text.substr(kScheme.size());
  const std::size_t slash = rest.find('/');
  const std::string_view host = rest.substr(0, slash);
  // A host of nothing but wildcards matches every host, whatever the path.
  const bool host_is_wild = !host.empty() && host.find_first_not_of("*.") == std::string_view::npos;
  if (host_is_wild || (slash == std::string_view::npos && host.find('*') != std::string_view::npos)) {
    return too_broad(text);
  }
  if (slash == std::string_view::npos || host.empty()) {
    return Error{"URL pattern \"" + std::string(text) + "\" must include a path component"};
  }
  return UrlPattern{std::string(text), to_regex(text)};
}

Result<std::vector<UrlPattern>> parse_url_patterns(std::string_view list) {
  std::vector<UrlPattern> out;
  std::size_t i = 0;
  while (i < list.size()) {
    const std::size_t end = list.find_first_of(", \t\n", i);
    const std::string_view item = list.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i);
    if (!item.empty()) {
      AWF_TRY_ASSIGN(UrlPattern p, parse_url_pattern(item));
      out.push_back(std::move(p));
    }
    if (end == std::string_view::npos) break;
    i = end + 1;
  }
  return out;
}

struct UrlAllowlist::Impl {
  RE2::Set set{RE2::Options(), RE2::UNANCHORED};
};

UrlAllowlist::UrlAllowlist() : impl_(std::make_unique<Impl>()) {}
UrlAllowlist::~UrlAllowlist() = default;

Result<std::shared_ptr<const UrlAllowlist>> UrlAllowlist::compile(std::vector<UrlPattern> patterns) {
  std::shared_ptr<UrlAllowlist> list(new UrlAllowlist());
  for (const UrlPattern& p : patterns) {
    std::string error;
    if (list->impl_->set.Add(p.regex, &error) < 0) {
      return Error{"URL pattern \"" + p.text + "\": cannot compile " + p.regex + ": " + error};
    }
  }
  if (!patterns.empty() && !list->impl_->set.Compile()) {
    return Error{"URL patterns: cannot compile the set (out of memory?)"};
  }
  list->patterns_ = std::move(patterns);
  return std::shared_ptr<const UrlAllowlist>(std::move(list));
}

const UrlPattern* UrlAllowlist::match(std::string_view url) const {
  if (patterns_.empty()) return nullptr;
  std::vector<int> hits;
  if (!impl_->set.Match(url, &hits) || hits.empty()) return nullptr;
  return &patterns_[static_cast<std::size_t>(*std::min_element(hits.begin(), hits.end()))];
}

}  // namespace awf::policy
