// Parsing and validation of one allow/block entry, with awf's exact messages
//, plus the warnings awf never printed for inert entries.
#include "awf/policy/entry.h"

#include <cstdio>

#include "awf/json_quote.h"

namespace awf::policy {

const char* to_string(Scope scope) {
  switch (scope) {
    case Scope::both: return "both";
    case Scope::http: return "http";
    case Scope::https: return "https";
  }
  return "both";
}

const char* to_string(ListKind list) {
  return list == ListKind::allow ? "allow" : "block";
}

namespace {

// JavaScript's String.prototype.trim removes ASCII whitespace (and some
// Unicode spaces awf users never type); we trim the ASCII set.
bool is_js_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_js_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_js_space(s.back())) s.remove_suffix(1);
  return s;
}

// awf's regex /[\s\0"'`;#\\]/: whitespace, NUL, quotes, backtick, semicolon,
// hash, backslash. These once let an entry inject lines into squid.conf.
bool is_dangerous(unsigned char c) {
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') return true;
  return c == 0 || c == '"' || c == '\'' || c == '`' || c == ';' || c == '#' || c == '\\';
}

Error invalid_character(std::string_view domain, unsigned char c) {
  std::string shown;
  if (c <= 0x20 || c == 0x7f) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "U+%04x", c);
    shown = buf;
  } else {
    shown = std::string("'") + static_cast<char>(c) + "'";
  }
  // The domain as JSON.stringify writes it, as awf's message shows it.
  return Error{"Invalid domain " + json_quoted(domain) + ": contains invalid character " + shown +
               ". Domain names must not contain whitespace, quotes, semicolons, backticks, hash "
               "characters, backslashes, or control characters."};
}

bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

}  // namespace

Result<Entry> parse_entry(std::string_view raw) {
  Entry entry;
  entry.original = std::string(raw);
  std::string_view d = trim(raw);
  if (d.starts_with("http://")) {
    entry.scope = Scope::http;
    d.remove_prefix(7);
  } else if (d.starts_with("https://")) {
    entry.scope = Scope::https;
    d.remove_prefix(8);
  }
  if (d.ends_with('/')) d.remove_suffix(1);

  if (d.empty()) return Error{"Domain cannot be empty"};
  for (unsigned char c : d) {
    if (is_dangerous(c)) return invalid_character(d, c);
  }
  // Control characters other than the ones above are not in awf's regex, but
  // awf's message promises they are refused, and no host name holds one.
  for (unsigned char c : d) {
    if (c < 0x20 || c == 0x7f) return invalid_character(d, c);
  }
  const std::string p(d);
  if (p == "*") return Error{"Pattern '*' matches all domains and is not allowed"};
  if (p == "*.*") return Error{"Pattern '*.*' is too broad and is not allowed"};
  if (p.find_first_not_of("*.") == std::string::npos && p.find('*') != std::string::npos) {
    return Error{"Pattern '" + p + "' is too broad and is not allowed"};
  }
  if (p.find("..") != std::string::npos) return Error{"Invalid domain '" + p + "': contains double dots"};
  if (p == ".") return Error{"Invalid domain: cannot be just a dot"};
  std::size_t labels = 1, wildcard_labels = 0, start = 0;
  for (std::size_t i = 0; i <= p.size(); ++i) {
    if (i == p.size() || p[i] == '.') {
      if (p.compare(start, i - start, "*") == 0) ++wildcard_labels;
      if (i < p.size()) ++labels;
      start = i + 1;
    }
  }
  if (wildcard_labels > 1 && wildcard_labels + 1 >= labels) {
    return Error{"Pattern '" + p + "' has too many wildcard segments and is not allowed"};
  }
  entry.domain = p;
  entry.is_pattern = p.find('*') != std::string::npos;
  return entry;
}

std::vector<std::string> entry_warnings(const Entry& entry) {
  std::vector<std::string> out;
  const std::string& d = entry.domain;
  const std::string quoted = "'" + entry.domain + "'";
  // awf strips only `http://` and `https://`; any other scheme (or those two
  // in capitals) stays part of the "domain". Said first and alone: the colon
  // and slashes would otherwise read as a port and a path.
  if (const auto scheme_end = d.find("://"); scheme_end != std::string::npos && scheme_end > 0 &&
                                             d.find_first_of("/:.") == scheme_end) {
    out.push_back("entry " + quoted + " has the unsupported scheme '" + d.substr(0, scheme_end) +
                  "': only http:// and https:// (lower case) are understood, so it matches nothing");
    return out;
  }
  bool has_non_ascii = false, has_odd_char = false;
  for (char c : d) {
    if (static_cast<unsigned char>(c) >= 0x80) has_non_ascii = true;
    else if (!is_host_char(c) && c != '*' && c != ':' && c != '/' && c != '[' && c != ']') has_odd_char = true;
  }
  const bool looks_v6 = d.find(':') != std::string::npos &&
                        (d.front() == '[' || d.find(':') != d.rfind(':'));
  if (looks_v6) {
    out.push_back("entry " + quoted +
                  " is an IPv6 literal: only IPv4 literals can be allowlisted, so it matches nothing");
  } else if (d.find(':') != std::string::npos) {
    out.push_back("entry " + quoted +
                  " carries a port: entries cannot name ports, so it matches nothing (use "
                  "--allow-host-ports for extra ports)");
  }
  if (d.find('/') != std::string::npos) {
    out.push_back("entry " + quoted +
                  " carries a path: entries match host names only, so it matches nothing");
  }
  if (!d.empty() && d.back() == '.') {
    out.push_back("entry " + quoted +
                  " ends with a dot: awf does not normalise entries, so it matches nothing (write it "
                  "without the trailing dot)");
  }
  if (has_non_ascii) {
    out.push_back("entry " + quoted +
                  " is not ASCII: clients send IDN names in punycode (xn--...), so it matches nothing");
  } else if (has_odd_char) {
    out.push_back("entry " + quoted + " contains characters no host name has, so it matches nothing");
  }
  // A whole top-level domain: `com`, `.com`, `*.com`, `*-cdn.com`: everything
  // after the last '*' spans at most one label.
  std::string_view tail = d;
  if (entry.is_pattern) tail = tail.substr(d.rfind('*') + 1);
  while (!tail.empty() && tail.front() == '.') tail.remove_prefix(1);
  const bool all_digits = !tail.empty() && tail.find_first_not_of("0123456789") == std::string::npos;
  if (out.empty() && entry.is_pattern && tail.empty()) {
    out.push_back("entry " + quoted + " ends with '*': it allows hosts under every top-level domain");
  } else if (out.empty() && !tail.empty() && tail.find('.') == std::string_view::npos && !all_digits) {
    out.push_back("entry " + quoted + " allows every host under the top-level domain '" +
                  std::string(tail) + "'");
  }
  return out;
}

}  // namespace awf::policy
