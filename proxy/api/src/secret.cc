// Credentials from the environment: trimmed, prefix removed, refused when a
// line break or NUL is left inside, placeholders counted as absent.
#include "awf/api/secret.h"

#include <array>

#include "awf/api/settings.h"
#include "text.h"

namespace awf::api {

bool is_placeholder(std::string_view value) {
  static constexpr std::array<std::string_view, 6> kAll = {kOpenAiPlaceholder,  kAnthropicPlaceholder,
                                                           kCopilotPlaceholder, kGeminiPlaceholder,
                                                           kGooglePlaceholder,  kOfflineByokPlaceholder};
  for (auto p : kAll) {
    if (value == p) return true;
  }
  return false;
}

namespace {

// `Bearer <x>` or `token <x>` (any case, one or more blanks): the scheme is
// ours to add, and a second one would make `Bearer Bearer <x>`. Taken off
// before trailing blanks, so `Bearer ` alone is no credential.
std::string_view without_scheme(std::string_view v) {
  while (!v.empty() && text::is_space(v.front())) v.remove_prefix(1);
  for (std::string_view scheme : {std::string_view("bearer"), std::string_view("token")}) {
    if (v.size() > scheme.size() && text::istarts_with(v, scheme) &&
        (v[scheme.size()] == ' ' || v[scheme.size()] == '\t')) {
      return text::trim(v.substr(scheme.size()));
    }
  }
  return text::trim(v);
}

}  // namespace

Result<std::optional<Secret>> read_secret(const Environment& env, const std::string& name,
                                          std::vector<std::string>& warnings) {
  const auto it = env.find(name);
  if (it == env.end()) return std::optional<Secret>();
  const std::string_view value = without_scheme(it->second);
  if (value.empty()) return std::optional<Secret>();
  // Trimming took the line ends around the value; what is left inside would
  // end the header line early (a second, forged header) or cut it at a NUL.
  if (!text::is_single_line(value)) {
    return Error{name + ": the value has a line break (CR or LF) or a NUL byte inside it, which cannot be sent in "
                        "an HTTP header; fix the variable (its value is not shown)"};
  }
  if (is_placeholder(value)) {
    warnings.push_back(name + " holds the agent-side placeholder, not a credential; treated as unset");
    return std::optional<Secret>();
  }
  return std::optional<Secret>(Secret(std::string(value)));
}

}  // namespace awf::api
