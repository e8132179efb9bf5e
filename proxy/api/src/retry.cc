// The rules for sending a request again (see awf/api/retry.h).
#include "awf/api/retry.h"

#include <algorithm>

#include "json_body.h"
#include "replies.h"
#include "text.h"

namespace awf::api {

namespace {

// Comma-separated items of a header value, trimmed, empty ones left out.
std::vector<std::string_view> list_items(std::string_view value) {
  std::vector<std::string_view> out;
  while (true) {
    const std::size_t comma = value.find(',');
    const std::string_view item = text::trim(value.substr(0, comma));
    if (!item.empty()) out.push_back(item);
    if (comma == std::string_view::npos) return out;
    value.remove_prefix(comma + 1);
  }
}

bool contains(std::string_view lower_text, std::string_view needle) {
  return lower_text.find(needle) != std::string_view::npos;
}

// A value taken from a provider's message: something a header list item
// can be.
bool plausible_value(std::string_view v) {
  if (v.empty() || v.size() > 256) return false;
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '\\' || c == ',' || c == '"') return false;
  }
  return true;
}

}  // namespace

std::optional<RefusedValues> parse_unexpected_header_values(std::string_view body) {
  static constexpr std::string_view kLead = "unexpected value(s) ";
  const std::string lower = text::to_lower(body);
  std::size_t at = lower.find(kLead);
  if (at == std::string::npos) return std::nullopt;
  at += kLead.size();
  RefusedValues out;
  // `a`, `b` and `c` for the `h` header
  for (;;) {
    if (at >= body.size() || body[at] != '`') return std::nullopt;
    const std::size_t end = body.find('`', at + 1);
    if (end == std::string_view::npos) return std::nullopt;
    const std::string_view value = body.substr(at + 1, end - at - 1);
    if (!plausible_value(value) || out.values.size() >= 64) return std::nullopt;
    if (std::find(out.values.begin(), out.values.end(), value) == out.values.end()) out.values.emplace_back(value);
    at = end + 1;
    while (at < body.size() && (body[at] == ',' || body[at] == ' ')) ++at;
    if (lower.compare(at, 4, "and ") == 0) at += 4;
    if (lower.compare(at, 9, "for the `") == 0) break;
  }
  at += 9;
  const std::size_t end = body.find('`', at);
  if (end == std::string_view::npos) return std::nullopt;
  const std::string_view header = body.substr(at, end - at);
  if (!text::is_token(header) || lower.compare(end + 1, 7, " header") != 0) return std::nullopt;
  out.header = text::to_lower(header);
  return out;
}

bool says_model_not_supported_yet(std::string_view body) {
  return contains(text::to_lower(body), "the requested model is not supported");
}

bool says_model_unsupported(std::string_view body) {
  const std::string lower = text::to_lower(body);
  for (std::string_view phrase : {"model_not_found", "model not found", "model is not supported", "model not supported",
                                  "unsupported model", "model_not_supported"}) {
    if (contains(lower, phrase)) return true;
  }
  if (!contains(lower, "model")) return false;
  for (std::string_view phrase : {"does not exist", "not supported", "not_found_error", "is not found"}) {
    if (contains(lower, phrase)) return true;
  }
  return false;
}

bool rule_may_edit_header(std::string_view lower, const ProviderConfig& config) {
  static constexpr std::string_view kManaged[] = {
      "host",           "authorization", "proxy-authorization", "x-api-key",    "x-goog-api-key",
      "api-key",        "content-length", "transfer-encoding",  "connection",   "keep-alive",
      "upgrade",        "te",             "trailer",            "x-request-id", "proxy-connection",
      "sec-websocket-key"};
  for (auto name : kManaged) {
    if (lower == name) return false;
  }
  if (lower == config.auth_header) return false;
  if (!config.custom_auth_header.empty() && lower == config.custom_auth_header) return false;
  return text::is_token(lower);
}

std::vector<std::string> remove_header_values(std::vector<Header>& headers, std::string_view header,
                                              const std::vector<std::string>& values) {
  std::vector<std::string> removed;
  for (auto it = headers.begin(); it != headers.end();) {
    if (!text::iequals(it->name, header)) {
      ++it;
      continue;
    }
    std::string kept;
    for (std::string_view item : list_items(it->value)) {
      if (std::find(values.begin(), values.end(), item) != values.end()) {
        if (std::find(removed.begin(), removed.end(), item) == removed.end()) removed.emplace_back(item);
        continue;
      }
      if (!kept.empty()) kept += ',';
      kept += item;
    }
    if (kept.size() == it->value.size() && kept == it->value) {
      ++it;
      continue;
    }
    if (kept.empty()) {
      it = headers.erase(it);
    } else {
      it->value = std::move(kept);
      ++it;
    }
  }
  // In the order the caller gave.
  std::vector<std::string> ordered;
  for (const auto& v : values) {
    if (std::find(removed.begin(), removed.end(), v) != removed.end() &&
        std::find(ordered.begin(), ordered.end(), v) == ordered.end()) {
      ordered.push_back(v);
    }
  }
  return ordered;
}

std::vector<std::string> RememberedHeaderValues::remember(const RefusedValues& refused) {
  std::lock_guard lock(mutex_);
  std::vector<std::string> left_out;
  auto slot = std::find_if(by_header_.begin(), by_header_.end(),
                           [&](const RefusedValues& r) { return r.header == refused.header; });
  if (slot == by_header_.end()) {
    if (by_header_.size() >= kMaxHeaders) return refused.values;
    by_header_.push_back(RefusedValues{refused.header, {}});
    slot = by_header_.end() - 1;
  }
  for (const auto& v : refused.values) {
    if (std::find(slot->values.begin(), slot->values.end(), v) != slot->values.end()) continue;
    if (slot->values.size() >= kMaxValuesPerHeader) {
      left_out.push_back(v);
      continue;
    }
    slot->values.push_back(v);
  }
  return left_out;
}

std::vector<RefusedValues> RememberedHeaderValues::drop_from(std::vector<Header>& headers) const {
  std::vector<RefusedValues> dropped;
  std::lock_guard lock(mutex_);
  for (const auto& r : by_header_) {
    auto removed = remove_header_values(headers, r.header, r.values);
    if (!removed.empty()) dropped.push_back(RefusedValues{r.header, std::move(removed)});
  }
  return dropped;
}

std::size_t RememberedHeaderValues::size(std::string_view header) const {
  std::lock_guard lock(mutex_);
  for (const auto& r : by_header_) {
    if (text::iequals(r.header, header)) return r.values.size();
  }
  return 0;
}

namespace {

bool reads_header_refusals(Provider p) { return p == Provider::anthropic || p == Provider::copilot; }

}  // namespace

bool needs_body(Provider provider, int status, bool fallback_left) {
  if (status == 400 && reads_header_refusals(provider)) return true;
  return fallback_left && (status == 400 || status == 404);
}

RetryDecision decide_retry(Provider provider, const ProviderConfig& config, int status, std::string_view body,
                           UpstreamRequest& sent, RetryState& state, bool fallback_left) {
  RetryDecision d;
  // The key, the model policy or the quota: no other attempt can do better.
  if (status == 401 || status == 403 || status == 429) return d;
  if (status >= 500 && status <= 599) {
    if (fallback_left) d.action = RetryDecision::Action::fall_back;
    return d;
  }
  if (status == 400 && reads_header_refusals(provider) && !state.values_dropped) {
    if (auto refused = parse_unexpected_header_values(body); refused && rule_may_edit_header(refused->header, config)) {
      auto removed = remove_header_values(sent.headers, refused->header, refused->values);
      if (!removed.empty()) {
        state.values_dropped = true;
        d.action = RetryDecision::Action::drop_values;
        d.refused = RefusedValues{refused->header, std::move(removed)};
        return d;
      }
    }
  }
  if (status == 400 && provider == Provider::copilot && says_model_not_supported_yet(body) &&
      state.not_supported_retries < kNotSupportedRetryDelays.size()) {
    d.action = RetryDecision::Action::resend;
    d.delay = kNotSupportedRetryDelays[state.not_supported_retries++];
    return d;
  }
  if ((status == 400 || status == 404) && fallback_left && says_model_unsupported(body)) {
    d.action = RetryDecision::Action::fall_back;
  }
  return d;
}

std::vector<std::string> fallback_models_for(const ProviderSettings& settings, Provider provider) {
  std::vector<std::string> out;
  // Google's APIs name the model in the path, which is not rewritten.
  if (provider == Provider::gemini || provider == Provider::vertex) return out;
  for (const auto& entry : settings.fallback_models) {
    const std::size_t slash = entry.find('/');
    if (slash != std::string::npos && slash + 1 < entry.size()) {
      if (const auto named = provider_named(text::to_lower(entry.substr(0, slash)))) {
        if (*named == provider) out.push_back(entry.substr(slash + 1));
        continue;
      }
    }
    out.push_back(entry);
  }
  return out;
}

namespace {

bool has_body_semantics(std::string_view method) { return method == "POST" || method == "PUT" || method == "PATCH"; }

}  // namespace

bool can_change_model(const UpstreamRequest& sent) {
  if (sent.websocket || !has_body_semantics(sent.method) || sent.model.empty()) return false;
  const auto parsed = parse_json_object(sent.body);
  if (!parsed || parsed->model_keys != 1) return false;
  const auto* model = parsed->object.if_contains("model");
  // The model the policy checked is the body's: not a Gemini path's.
  return model && model->is_string() &&
         std::string_view(model->get_string().data(), model->get_string().size()) == sent.model;
}

std::optional<Rewritten> with_model(const ProviderSettings& settings, const UpstreamRequest& sent,
                                    std::string_view model) {
  if (!can_change_model(sent)) return std::nullopt;
  auto parsed = parse_json_object(sent.body);
  parsed->object["model"] = boost::json::string(model);
  if (settings.model_policy.active()) {
    const PolicyVerdict verdict = check_model(settings.model_policy, model);
    if (!verdict.allowed()) return Rewritten(policy_reply(verdict, std::string(model), sent.request_id));
  }
  UpstreamRequest out = sent;
  out.body = write_json(parsed->object);
  out.model = std::string(model);
  for (auto& h : out.headers) {
    if (text::iequals(h.name, "content-length")) h.value = std::to_string(out.body.size());
  }
  return Rewritten(std::move(out));
}

}  // namespace awf::api
