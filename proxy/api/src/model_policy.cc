// Model allow/deny lists: parsing the JSON arrays, matching `*` patterns and
// the verdict for one model.
#include "awf/api/model_policy.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "awf/api/provider.h"
#include "text.h"

namespace awf::api {

namespace {

// A JSON array of one or more non-empty strings (trimmed). `what` names
// the entries in messages, `example` shows a valid value, `empty_hint` says
// what to do instead of an empty list.
Result<std::vector<std::string>> parse_string_list(std::string_view variable, std::string_view json,
                                                   std::string_view what, std::string_view example,
                                                   std::string_view empty_hint) {
  const std::string name(variable);
  boost::system::error_code ec;
  boost::json::parse_options options;
  options.max_depth = 4;
  const boost::json::value value = boost::json::parse(boost::json::string_view(json.data(), json.size()), ec,
                                                      boost::json::storage_ptr(), options);
  if (ec) {
    return Error{name + ": not valid JSON (" + ec.message() + "); expected an array of " + std::string(what) +
                 " such as " + std::string(example)};
  }
  if (!value.is_array()) {
    return Error{name + ": expected a JSON array of " + std::string(what) + " such as " + std::string(example)};
  }
  const auto& array = value.get_array();
  if (array.empty()) return Error{name + ": the list is empty; " + std::string(empty_hint)};
  std::vector<std::string> out;
  out.reserve(array.size());
  for (std::size_t i = 0; i < array.size(); ++i) {
    const std::string position = std::to_string(i + 1);
    if (!array[i].is_string()) return Error{name + ": entry " + position + " is not a string"};
    const auto& s = array[i].get_string();
    const std::string_view entry = text::trim(std::string_view(s.data(), s.size()));
    if (entry.empty()) return Error{name + ": entry " + position + " is empty"};
    out.emplace_back(entry);
  }
  return out;
}

}  // namespace

Result<std::vector<std::string>> parse_model_list(std::string_view variable, std::string_view json) {
  return parse_string_list(variable, json, "model name patterns", R"(["gpt-5*","claude-sonnet-*"])",
                           "unset the variable for no restriction, or name at least one pattern");
}

Result<std::vector<std::string>> parse_fallback_models(std::string_view variable, std::string_view json,
                                                       const ModelPolicy& policy) {
  const std::string name(variable);
  AWF_TRY_ASSIGN(std::vector<std::string> models,
                 parse_string_list(variable, json, "model names", R"(["gpt-5-mini","anthropic/claude-haiku-4-5"])",
                                   "unset the variable for no fallback, or name at least one model"));
  for (std::size_t i = 0; i < models.size(); ++i) {
    const std::string& entry = models[i];
    const std::string position = "entry " + std::to_string(i + 1) + " \"" + entry + "\"";
    if (entry.find('*') != std::string::npos) {
      return Error{name + ": " + position + " is a pattern; fallback models are sent as they are, so each must be "
                   "one model name"};
    }
    if (!text::is_single_line(entry)) return Error{name + ": " + position + " has a line break or NUL"};
    // What the policy sees on the route the entry is for.
    std::string_view model = entry;
    if (const std::size_t slash = model.find('/'); slash != std::string_view::npos && slash + 1 < model.size() &&
                                                   provider_named(text::to_lower(model.substr(0, slash)))) {
      model.remove_prefix(slash + 1);
    }
    if (const PolicyVerdict verdict = check_model(policy, model); !verdict.allowed()) {
      return Error{name + ": " + position + " is refused by the model policy (" + to_string(verdict.reason) +
                   "): " + verdict.message};
    }
  }
  return models;
}

bool model_glob_matches(std::string_view pattern, std::string_view model) {
  // Greedy match with one backtrack point: the latest `*` and where its run
  // began. Linear in practice, O(pattern x model) at worst; no recursion.
  std::size_t p = 0, m = 0;
  std::size_t star = std::string_view::npos, star_m = 0;
  while (m < model.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_m = m;
    } else if (p < pattern.size() && text::lower(pattern[p]) == text::lower(model[m])) {
      ++p;
      ++m;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      m = ++star_m;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

const char* to_string(PolicyReason reason) {
  switch (reason) {
    case PolicyReason::allowed: return "allowed";
    case PolicyReason::disallowed: return "disallowed";
    case PolicyReason::not_allowed: return "not_allowed";
    case PolicyReason::dynamic_model_unverifiable: return "dynamic_model_unverifiable";
    case PolicyReason::model_missing: return "model_missing";
    case PolicyReason::model_unverifiable: return "model_unverifiable";
  }
  return "unknown";
}

PolicyVerdict check_model(const ModelPolicy& policy, std::string_view model) {
  const std::string quoted = "\"" + std::string(model) + "\"";
  if (policy.disallowed) {
    for (const auto& pattern : *policy.disallowed) {
      if (model_glob_matches(pattern, model)) {
        return {PolicyReason::disallowed,
                "Model " + quoted + " is not permitted: it matches \"" + pattern + "\" in the disallowed models list"};
      }
    }
  }
  if (policy.allowed) {
    bool listed = false;
    for (const auto& pattern : *policy.allowed) {
      if (model_glob_matches(pattern, model)) {
        listed = true;
        break;
      }
    }
    if (!listed) {
      return {PolicyReason::not_allowed, "Model " + quoted + " is not permitted: it is not in the allowed models list"};
    }
  }
  // `auto` asks the provider to choose, so the model that answers cannot be
  // checked against the deny list. Only an allow-list entry naming `auto`
  // itself (not a pattern that happens to match it) accepts that.
  if (policy.disallowed && text::iequals(model, "auto")) {
    bool named = false;
    if (policy.allowed) {
      for (const auto& pattern : *policy.allowed) named = named || text::iequals(pattern, "auto");
    }
    if (!named) {
      return {PolicyReason::dynamic_model_unverifiable,
              "Model \"auto\" is not permitted: the provider would choose the model, which cannot be checked "
              "against the disallowed models list; add \"auto\" to the allowed models list to permit it"};
    }
  }
  return {PolicyReason::allowed, ""};
}

}  // namespace awf::api
