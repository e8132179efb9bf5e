// --allowed-methods: the HTTP methods a read-only agent may use ("GET,HEAD,
// OPTIONS"), read one way for awf and awf-proxy.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "awf/result.h"

namespace awf::policy {

// A comma list of methods, upper-cased and without repeats. Refused, naming
// the entry: an empty list, an empty entry, or one with characters an HTTP
// method (a token) cannot have.
Result<std::vector<std::string>> parse_method_list(std::string_view list);

// Whether `method` is in `allowed` (methods compare case-sensitively, as
// HTTP does: "get" is not GET).
bool method_listed(const std::vector<std::string>& allowed, std::string_view method);

}  // namespace awf::policy
