// Data-loss prevention on request URLs (--enable-dlp): credential shapes
// (GitHub, OpenAI, Anthropic, AWS, Google and Slack tokens, bearer or
// authorization query parameters, a PEM private key) looked for in every URL
// the proxy can read. One RE2 set, case-insensitive, one pass per URL; the
// percent-decoded form is scanned too, so "%67hp_..." is no way around it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace awf::policy {

struct DlpPattern {
  const char* name;   // "github-token": what logs and the refusal name
  const char* regex;  // RE2 syntax, matched case-insensitively anywhere
};

// The patterns, in the order a URL is checked against them.
const std::vector<DlpPattern>& dlp_patterns();

class DlpScanner {
 public:
  // Compiles dlp_patterns() (they are ours: a failure is a bug, reported by
  // throwing std::logic_error).
  DlpScanner();
  ~DlpScanner();
  DlpScanner(const DlpScanner&) = delete;
  DlpScanner& operator=(const DlpScanner&) = delete;

  // The name of the first pattern (dlp_patterns order) `url` matches, raw or
  // percent-decoded; nothing when it carries no credential shape.
  std::optional<std::string> scan(std::string_view url) const;

  // `url` fit for a log: percent-decoded, every match of every pattern
  // replaced by "[dlp:NAME]".
  std::string redact(std::string_view url) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// `text` with %XX sequences decoded (invalid ones kept as they are) and '+'
// left alone.
std::string percent_decode(std::string_view text);

}  // namespace awf::policy
