// One allow/block list entry of awf's domain grammar:
// parsing, validation with awf's messages, and the warnings awf never gave.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "awf/result.h"

namespace awf::policy {

// Which requests an allowlist entry applies to. awf decides by method, not by
// port: `http://` entries allow only non-CONNECT requests, `https://` entries
// allow only CONNECT (and TLS-intercepted) requests.
enum class Scope { both, http, https };
const char* to_string(Scope scope);  // "both", "http", "https"

enum class ListKind { allow, block };
const char* to_string(ListKind list);  // "allow", "block"

struct Entry {
  std::string original;  // as the user wrote it (untrimmed), for messages and logs
  std::string domain;    // trimmed, scope prefix and one trailing '/' removed; case kept
  Scope scope = Scope::both;
  bool is_pattern = false;  // contains '*'
};

// Parses and validates one entry exactly as awf does. The error message is
// awf's text, e.g. `Pattern '*' matches all domains and is not allowed`.
Result<Entry> parse_entry(std::string_view raw);

// Entries awf accepts but that a user probably did not mean: they match
// nothing (`example.com:8080`, `api.github.com/v3`, `github.com.`, unicode,
// IPv6 literals) or a whole top-level domain (`com`, `*.com`). Empty when the
// entry is unremarkable. The text names the entry and says why.
std::vector<std::string> entry_warnings(const Entry& entry);

}  // namespace awf::policy
