// The DLP scanner: the credential patterns in one RE2::Set for the yes/no
// question, and one RE2 per pattern only when the answer is yes, to name it
// and to redact the URL before anything logs it.
#include "awf/policy/dlp.h"

#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>
#include <stdexcept>

namespace awf::policy {
namespace {

RE2::Options case_insensitive() {
  RE2::Options o;
  o.set_case_sensitive(false);
  o.set_log_errors(false);
  return o;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

const std::vector<DlpPattern>& dlp_patterns() {
  // Token shapes as their issuers document them; lengths are minimums, so a
  // longer token still matches. The query-parameter ones catch credentials
  // that have no recognisable shape but a telling name.
  static const std::vector<DlpPattern> kPatterns = {
      {"github-token", R"(gh[opsu]_[a-z0-9]{36})"},
      {"github-fine-grained-token", R"(github_pat_[a-z0-9_]{22,})"},
      {"openai-key", R"(sk-[a-z0-9]{20}t3blbkfj[a-z0-9]{20})"},
      {"openai-project-key", R"(sk-proj-[a-z0-9_\-]{20,})"},
      {"anthropic-key", R"(sk-ant-[a-z0-9_\-]{20,})"},
      {"aws-access-key-id", R"(akia[0-9a-z]{16})"},
      {"google-api-key", R"(aiza[0-9a-z_\-]{35})"},
      {"slack-token", R"(xox[bp]-[0-9a-z\-]{10,})"},
      {"bearer-query-parameter", R"([?&;]bearer=)"},
      {"authorization-query-parameter", R"([?&;]authorization=)"},
      {"private-key", R"(private(%20|\+| )key)"},
  };
  return kPatterns;
}

struct DlpScanner::Impl {
  RE2::Set set{case_insensitive(), RE2::UNANCHORED};
  std::vector<std::unique_ptr<RE2>> each;
};

DlpScanner::DlpScanner() : impl_(std::make_unique<Impl>()) {
  for (const DlpPattern& p : dlp_patterns()) {
    std::string error;
    if (impl_->set.Add(p.regex, &error) < 0) throw std::logic_error(std::string("DLP pattern ") + p.name + ": " + error);
    impl_->each.push_back(std::make_unique<RE2>(p.regex, case_insensitive()));
    if (!impl_->each.back()->ok()) throw std::logic_error(std::string("DLP pattern ") + p.name);
  }
  if (!impl_->set.Compile()) throw std::logic_error("DLP patterns: RE2::Set::Compile failed (out of memory?)");
}

DlpScanner::~DlpScanner() = default;

namespace {

// Decoded until nothing changes, at most a few rounds: "%2567" hides "%67",
// which hides "g".
std::string fully_decoded(std::string_view text) {
  std::string current(text);
  for (int round = 0; round < 4 && current.find('%') != std::string::npos; ++round) {
    std::string next = percent_decode(current);
    if (next == current) break;
    current = std::move(next);
  }
  return current;
}

}  // namespace

std::optional<std::string> DlpScanner::scan(std::string_view url) const {
  std::vector<int> hits;
  if (!impl_->set.Match(url, &hits)) {
    if (url.find('%') == std::string_view::npos) return std::nullopt;
    if (!impl_->set.Match(fully_decoded(url), &hits)) return std::nullopt;
  }
  return std::string(dlp_patterns()[static_cast<std::size_t>(*std::min_element(hits.begin(), hits.end()))].name);
}

std::string DlpScanner::redact(std::string_view url) const {
  // The decoded form when there is anything to decode: in the raw one a
  // credential may hide behind escapes that no pattern sees.
  std::string out = fully_decoded(url);
  for (std::size_t i = 0; i < impl_->each.size(); ++i) {
    RE2::GlobalReplace(&out, *impl_->each[i], std::string("[dlp:") + dlp_patterns()[i].name + "]");
  }
  return out;
}

std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      const int hi = hex_value(text[i + 1]), lo = hex_value(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

}  // namespace awf::policy
