// Credentials the API proxy holds and the agent never sees, and the
// placeholders the agent gets in their place.
#pragma once

#include <string>
#include <string_view>

namespace awf::api {

// A credential. It has no operator<< and no conversion to a string: the
// only way to its text is reveal(), which a reader can find by name. Its
// text never appears in a message, a warning or a log line.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}

  bool empty() const { return value_.empty(); }
  std::size_t size() const { return value_.size(); }

  // The credential, for the one place that writes it into a header, and for
  // redaction.
  std::string_view reveal() const { return value_; }

  friend bool operator==(const Secret&, const Secret&) = default;

 private:
  std::string value_;
};

// The agent-side placeholders: what the agent's SDKs find in their key
// variables. Some SDKs refuse to start, or ignore a base URL, without a key
// of the right shape (Claude Code checks the `sk-ant-` prefix; Copilot's CLI
// the `ghu_` one).
inline constexpr std::string_view kOpenAiPlaceholder = "sk-placeholder-for-api-proxy";
inline constexpr std::string_view kAnthropicPlaceholder = "sk-ant-placeholder-key-for-credential-isolation";
inline constexpr std::string_view kCopilotPlaceholder = "ghu_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";  // ghu_ + 36 a
inline constexpr std::string_view kGeminiPlaceholder = "gemini-api-key-placeholder-for-credential-isolation";
inline constexpr std::string_view kGooglePlaceholder = "google-api-key-placeholder-for-credential-isolation";
// What Copilot's CLI is given for a BYOK provider that needs no key.
inline constexpr std::string_view kOfflineByokPlaceholder = "dummy-byok-key-for-offline-mode";

// One of the placeholders above: a value that counts as no credential when
// it reaches the proxy's side (an agent environment copied back, say).
bool is_placeholder(std::string_view value);

}  // namespace awf::api
