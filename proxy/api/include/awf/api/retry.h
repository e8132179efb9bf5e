// What the API proxy does with a provider's answer before any byte of it
// has reached the agent: pass it on, or send the request again, with the
// same credential, after one of these rules:
//   - Anthropic and Copilot: a 400 saying "Unexpected value(s) `V` for the
//     `H` header" -> V dropped from H, sent once more; V is remembered and
//     dropped from H up front on later requests;
//   - Copilot: a 400 saying "the requested model is not supported" (a
//     model that is still being rolled out) -> sent again after 1 s, then
//     after 2 s;
//   - a fallback model list (AWF_FALLBACK_MODELS): the next model on a 5xx,
//     on a connection failure and on a 400/404 that says the model is
//     unsupported; never on 401, 403 or 429 (the key, the policy or the
//     quota: another model changes nothing there).
// Nothing else is retried. Pure but for RememberedHeaderValues' lock.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "awf/api/messages.h"
#include "awf/api/provider.h"
#include "awf/api/rewrite.h"
#include "awf/api/settings.h"

namespace awf::api {

// An answer's body is read for these rules up to this size; a bigger one
// goes to the agent unchanged (its first bytes included).
inline constexpr std::size_t kMaxInspectedBodyBytes = 64 * 1024;

// Rule (c): how often, and after how long.
inline constexpr std::array<std::chrono::milliseconds, 2> kNotSupportedRetryDelays = {std::chrono::milliseconds(1000),
                                                                                      std::chrono::milliseconds(2000)};

// The values a provider refused in one header.
struct RefusedValues {
  std::string header;               // lower case
  std::vector<std::string> values;  // in the order the message names them
  friend bool operator==(const RefusedValues&, const RefusedValues&) = default;
};

// "Unexpected value(s) `a`, `b` for the `anthropic-beta` header" anywhere
// in `body` (a JSON error's message: no value with a backslash, a backquote
// or a line break is taken). nullopt when the body says nothing of the kind.
std::optional<RefusedValues> parse_unexpected_header_values(std::string_view body);

// Copilot's 400 for a model that is not served yet: "the requested model is
// not supported" (any case).
bool says_model_not_supported_yet(std::string_view body);

// A 400/404 body saying the model is unknown or unsupported (OpenAI's
// model_not_found, "does not exist", Anthropic's not_found_error naming a
// model, Copilot's and Gemini's "not supported").
bool says_model_unsupported(std::string_view body);

// Headers rule (a) never touches, whatever a provider says: Host, framing,
// hop-by-hop, X-Request-ID and every credential header (the configured
// custom one included).
bool rule_may_edit_header(std::string_view lower_name, const ProviderConfig& config);

// Removes `values` (exact) from the comma-separated lists of every header
// named `header` (any case); a header left empty is removed. Returns the
// values removed, each once, in the order of `values`.
std::vector<std::string> remove_header_values(std::vector<Header>& headers, std::string_view header,
                                              const std::vector<std::string>& values);

// Values providers refused, per header, so later requests drop them before
// they are sent. Bounded: kMaxValuesPerHeader values for each of at most
// kMaxHeaders headers; beyond that a value is still dropped from the
// request that was refused, but not remembered. Safe to share between
// threads.
class RememberedHeaderValues {
 public:
  static constexpr std::size_t kMaxValuesPerHeader = 200;
  static constexpr std::size_t kMaxHeaders = 16;

  // Returns the values that were not remembered because a bound was hit.
  std::vector<std::string> remember(const RefusedValues& refused);
  // Drops every remembered value from `headers`; returns what was dropped.
  std::vector<RefusedValues> drop_from(std::vector<Header>& headers) const;
  std::size_t size(std::string_view header) const;

 private:
  mutable std::mutex mutex_;
  std::vector<RefusedValues> by_header_;
};

// What one agent request has used up.
struct RetryState {
  bool values_dropped = false;        // rule (a) sends again once
  std::size_t not_supported_retries = 0;  // rule (c), kNotSupportedRetryDelays.size() at most
};

struct RetryDecision {
  enum class Action : std::uint8_t {
    deliver,      // the answer goes to the agent as it came
    drop_values,  // `refused` removed from the request (and remembered), then sent again
    resend,       // the same request again after `delay`
    fall_back,    // the request with the next fallback model
  };
  Action action = Action::deliver;
  RefusedValues refused;  // drop_values: the values present in the request, removed from it
  std::chrono::milliseconds delay{0};
};

// Whether the body of a `status` answer is needed to decide (read up to
// kMaxInspectedBodyBytes): a 400 from Anthropic or Copilot, and a 400/404
// while a fallback model is left.
bool needs_body(Provider provider, int status, bool fallback_left);

// The decision on an answer with `status` and whole `body` ("" when
// needs_body() said no) to `sent`. `fallback_left`: a fallback model is
// left for this request. drop_values edits `sent`'s headers; the state
// records what was used.
RetryDecision decide_retry(Provider provider, const ProviderConfig& config, int status, std::string_view body,
                           UpstreamRequest& sent, RetryState& state, bool fallback_left);

// The AWF_FALLBACK_MODELS entries for `provider`'s route, in order: an entry
// "<provider>/<model>" only on that provider's route, its prefix removed
// (the same rule as request bodies' models); other entries on every route.
// None for Gemini and Vertex AI, whose requests name the model in the path.
std::vector<std::string> fallback_models_for(const ProviderSettings& settings, Provider provider);

// Whether `sent` can be sent with another model: a body that is a JSON
// object with one string "model" (WebSocket upgrades and models in the path
// cannot).
bool can_change_model(const UpstreamRequest& sent);

// `sent` asking for `model` instead: the body's "model" replaced, its
// Content-Length set again, then the model policy on the new request; a
// refused model gives the policy's 403 (never sent). nullopt when
// can_change_model(sent) is false.
std::optional<Rewritten> with_model(const ProviderSettings& settings, const UpstreamRequest& sent,
                                    std::string_view model);

}  // namespace awf::api
