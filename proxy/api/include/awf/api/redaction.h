// Keeping credentials out of log lines: a credential, or any 4-character
// piece of one, is replaced before a line is written; hosts that are secret
// (a BYOK base URL) are replaced whole. And the one line per API request.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "awf/api/settings.h"

namespace awf::api {

inline constexpr std::string_view kRedacted = "[REDACTED]";

class Redactor {
 public:
  // `secrets`: credential values. `hosts`: names replaced whole.
  Redactor(const std::vector<std::string_view>& secrets, std::vector<std::string> hosts);

  // Every credential and secret host of the settings.
  static Redactor for_settings(const ProviderSettings& settings);

  // A credential that became known while the proxy runs (a federated access
  // token, the identity token it was exchanged for): from now on it is
  // redacted like the ones given at start. Safe to call while other threads
  // scrub; copies of this redactor share what it learns.
  void add_secret(std::string_view secret);

  // Whether `text` holds a credential or any 4+ character substring of one
  // (a credential shorter than 4 characters: itself).
  bool contains_secret_piece(std::string_view text) const;

  // `text` with every run covered by credential pieces, and every secret
  // host (ASCII case-insensitive), replaced by [REDACTED].
  std::string scrub(std::string_view text) const;

 private:
  std::unordered_set<std::string> pieces_;  // every 4-byte window of every credential
  std::vector<std::string> short_secrets_;  // credentials under 4 bytes
  std::vector<std::string> hosts_;          // lower case
  // Credentials added by add_secret(); `any` spares every other redactor
  // the lock.
  struct Learned {
    std::atomic<bool> any{false};
    std::shared_mutex mutex;
    std::unordered_set<std::string> pieces;
    std::vector<std::string> short_secrets;
  };
  std::shared_ptr<Learned> learned_ = std::make_shared<Learned>();
};

// Free text from the request for a log field: control characters removed,
// credentials scrubbed, invalid UTF-8 replaced by U+FFFD, cut to at most
// 200 bytes on a character boundary.
std::string log_safe_text(std::string_view text, const Redactor& redactor);

struct ApiLogFields {
  std::string request_id;
  Provider provider = Provider::openai;
  std::string method;
  std::string path;  // as the agent sent it
  std::string model;
  std::string upstream_host;
  int status = 0;
  std::uint64_t request_bytes = 0;
  std::uint64_t response_bytes = 0;
  std::uint64_t duration_ms = 0;
};

// One JSON object on one line (no newline): event "api_request" and the
// fields above, free text passed through log_safe_text().
std::string format_api_log_line(const ApiLogFields& fields, const Redactor& redactor);

}  // namespace awf::api
