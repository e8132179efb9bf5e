// Which models the agent may use: allow and deny lists of name patterns,
// read from AWF_ALLOWED_MODELS / AWF_DISALLOWED_MODELS (JSON arrays).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "awf/result.h"

namespace awf::api {

struct ModelPolicy {
  std::optional<std::vector<std::string>> allowed;     // unset: every model not denied
  std::optional<std::vector<std::string>> disallowed;  // unset: nothing denied
  bool active() const { return allowed.has_value() || disallowed.has_value(); }
};

// A model list variable's value: a JSON array of one or more non-empty
// strings. An empty array or anything else is an error naming `variable`:
// a list that silently meant "no restriction" would turn the policy off.
Result<std::vector<std::string>> parse_model_list(std::string_view variable, std::string_view json);

// AWF_FALLBACK_MODELS: a JSON array of one or more model names, tried in
// order when the provider fails a request (awf/api/retry.h). An entry
// "<provider>/<model>" is for that provider's route only. A pattern (`*`),
// a line break, or a name `policy` refuses (checked as the route will,
// prefix removed) is an error naming `variable` and the entry: a fallback
// that could never be sent is a configuration mistake, not a choice.
Result<std::vector<std::string>> parse_fallback_models(std::string_view variable, std::string_view json,
                                                       const ModelPolicy& policy);

// `*` matches any run of characters (none included); every other character
// stands for itself. Anchored at both ends; ASCII case-insensitive.
bool model_glob_matches(std::string_view pattern, std::string_view model);

// Why a model passed or not. to_string() is the `reason` of the 403 body.
enum class PolicyReason {
  allowed,
  disallowed,                  // matches the deny list
  not_allowed,                 // an allow list is set and nothing in it matches
  dynamic_model_unverifiable,  // `auto` lets the provider pick; with a deny list it must be allowed by name
  model_missing,               // a policy is set and the request names no model where one is required
  model_unverifiable,          // the request names a model we cannot read unambiguously
};
const char* to_string(PolicyReason reason);

struct PolicyVerdict {
  PolicyReason reason = PolicyReason::allowed;
  std::string message;  // for the agent; names the model
  bool allowed() const { return reason == PolicyReason::allowed; }
};

// Deny list first, then the allow list, then the `auto` rule.
PolicyVerdict check_model(const ModelPolicy& policy, std::string_view model);

}  // namespace awf::api
