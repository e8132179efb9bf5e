// --allowed-methods parsing; see methods.h.
#include "awf/policy/methods.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace awf::policy {
namespace {

// RFC 9110's tchar: what a method may be made of.
bool is_token_char(unsigned char c) {
  return std::isalnum(c) || (c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

}  // namespace

Result<std::vector<std::string>> parse_method_list(std::string_view list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t comma = list.find(',', start);
    if (comma == std::string_view::npos) comma = list.size();
    std::string_view entry = list.substr(start, comma - start);
    start = comma + 1;
    while (!entry.empty() && entry.front() == ' ') entry.remove_prefix(1);
    while (!entry.empty() && entry.back() == ' ') entry.remove_suffix(1);
    if (entry.empty()) return Error{"--allowed-methods \"" + std::string(list) + "\": an empty entry"};
    if (!std::all_of(entry.begin(), entry.end(), [](unsigned char c) { return is_token_char(c); })) {
      return Error{"--allowed-methods: \"" + std::string(entry) + "\" is not an HTTP method"};
    }
    std::string method(entry);
    std::transform(method.begin(), method.end(), method.begin(), [](unsigned char c) { return std::toupper(c); });
    if (!method_listed(out, method)) out.push_back(std::move(method));
  }
  return out;
}

bool method_listed(const std::vector<std::string>& allowed, std::string_view method) {
  return std::find(allowed.begin(), allowed.end(), method) != allowed.end();
}

}  // namespace awf::policy
