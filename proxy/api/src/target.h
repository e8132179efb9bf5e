// Loose URL splitting for the configuration's target and base URL
// variables (internal): what a person may type for a host, with or without a
// scheme, user info, port or path.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "awf/result.h"

namespace awf::api {

struct LooseUrl {
  std::string host;  // lower case, no trailing dot; "" when none was found
  std::string path;  // "" or starting with '/'
  bool had_scheme = false;
  bool had_userinfo = false;
  bool had_port = false;
  bool had_query = false;
  bool had_fragment = false;
};

// Splits `value` (trimmed). Error for an IPv6 literal or a host with bytes
// no host name has; the message names `variable` and shows the host only
// when `show_host`.
Result<LooseUrl> split_loose_url(std::string_view variable, std::string_view value, bool show_host);

// "a", "a and b", "a, b and c".
std::string join_words(const std::vector<std::string_view>& words);

}  // namespace awf::api
