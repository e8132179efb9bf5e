// Redaction of credentials in log text, and the API request log line.
#include "awf/api/redaction.h"

#include <algorithm>

#include "json_body.h"
#include "text.h"

namespace awf::api {

namespace {

constexpr std::size_t kPiece = 4;
constexpr std::size_t kMaxLogText = 200;

// Length of the valid UTF-8 sequence at s[i], or 0.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  std::size_t n = 0;
  unsigned min = 0;
  if (b < 0x80) return 1;
  if ((b & 0xe0) == 0xc0) n = 2, min = 0x80;
  else if ((b & 0xf0) == 0xe0) n = 3, min = 0x800;
  else if ((b & 0xf8) == 0xf0) n = 4, min = 0x10000;
  else return 0;
  if (i + n > s.size()) return 0;
  unsigned cp = b & (0xff >> (n + 1));
  for (std::size_t k = 1; k < n; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

}  // namespace

Redactor::Redactor(const std::vector<std::string_view>& secrets, std::vector<std::string> hosts) {
  for (auto s : secrets) {
    if (s.empty()) continue;
    if (s.size() < kPiece) {
      short_secrets_.emplace_back(s);
      continue;
    }
    for (std::size_t i = 0; i + kPiece <= s.size(); ++i) pieces_.emplace(s.substr(i, kPiece));
  }
  for (auto& h : hosts) {
    if (!h.empty()) hosts_.push_back(text::to_lower(h));
  }
}

Redactor Redactor::for_settings(const ProviderSettings& settings) {
  std::vector<std::string_view> secrets;
  for (const auto& c : settings.providers) {
    if (c.key) secrets.push_back(c.key->reveal());
    if (c.github_token) secrets.push_back(c.github_token->reveal());
  }
  if (settings.anthropic_federation) secrets.push_back(settings.anthropic_federation->request_token.reveal());
  return Redactor(secrets, settings.secret_hosts);
}

void Redactor::add_secret(std::string_view secret) {
  if (secret.empty()) return;
  Learned& l = *learned_;
  std::unique_lock lock(l.mutex);
  if (secret.size() < kPiece) {
    l.short_secrets.emplace_back(secret);
  } else {
    for (std::size_t i = 0; i + kPiece <= secret.size(); ++i) l.pieces.emplace(secret.substr(i, kPiece));
  }
  l.any.store(true, std::memory_order_release);
}

bool Redactor::contains_secret_piece(std::string_view text) const {
  // Any substring of 4 or more characters contains one of 4: checking every
  // 4-byte window of the text against the credentials' windows is enough.
  for (std::size_t i = 0; i + kPiece <= text.size() && !pieces_.empty(); ++i) {
    if (pieces_.contains(std::string(text.substr(i, kPiece)))) return true;
  }
  for (const auto& s : short_secrets_) {
    if (text.find(s) != std::string_view::npos) return true;
  }
  if (learned_->any.load(std::memory_order_acquire)) {
    std::shared_lock lock(learned_->mutex);
    for (std::size_t i = 0; i + kPiece <= text.size(); ++i) {
      if (learned_->pieces.contains(std::string(text.substr(i, kPiece)))) return true;
    }
    for (const auto& s : learned_->short_secrets) {
      if (text.find(s) != std::string_view::npos) return true;
    }
  }
  return false;
}

std::string Redactor::scrub(std::string_view text) const {
  // Mark every byte covered by a credential window (or a short credential,
  // or a secret host), then write marked runs as one [REDACTED].
  std::vector<bool> covered(text.size(), false);
  auto cover = [&](std::size_t at, std::size_t n) { std::fill_n(covered.begin() + static_cast<long>(at), n, true); };
  for (std::size_t i = 0; i + kPiece <= text.size() && !pieces_.empty(); ++i) {
    if (pieces_.contains(std::string(text.substr(i, kPiece)))) cover(i, kPiece);
  }
  for (const auto& s : short_secrets_) {
    for (auto at = text.find(s); at != std::string_view::npos; at = text.find(s, at + 1)) cover(at, s.size());
  }
  if (learned_->any.load(std::memory_order_acquire)) {
    std::shared_lock lock(learned_->mutex);
    for (std::size_t i = 0; i + kPiece <= text.size(); ++i) {
      if (learned_->pieces.contains(std::string(text.substr(i, kPiece)))) cover(i, kPiece);
    }
    for (const auto& s : learned_->short_secrets) {
      for (auto at = text.find(s); at != std::string_view::npos; at = text.find(s, at + 1)) cover(at, s.size());
    }
  }
  if (!hosts_.empty()) {
    const std::string lower = text::to_lower(text);
    for (const auto& h : hosts_) {
      for (auto at = lower.find(h); at != std::string::npos; at = lower.find(h, at + 1)) cover(at, h.size());
    }
  }
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    if (!covered[i]) {
      out += text[i++];
      continue;
    }
    out += kRedacted;
    while (i < text.size() && covered[i]) ++i;
  }
  return out;
}

std::string log_safe_text(std::string_view raw, const Redactor& redactor) {
  // Controls go first: removing them after scrubbing could join two
  // harmless pieces into a credential's.
  std::string plain;
  plain.reserve(raw.size());
  for (char c : raw) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b != 0x7f) plain += c;
  }
  const std::string scrubbed = redactor.scrub(plain);
  std::string out;
  out.reserve(std::min(scrubbed.size(), kMaxLogText));
  for (std::size_t i = 0; i < scrubbed.size();) {
    const std::size_t n = utf8_length(scrubbed, i);
    const std::string_view piece = n ? std::string_view(scrubbed).substr(i, n) : std::string_view("\xef\xbf\xbd");
    if (out.size() + piece.size() > kMaxLogText) break;
    out += piece;
    i += n ? n : 1;
  }
  return out;
}

std::string format_api_log_line(const ApiLogFields& f, const Redactor& redactor) {
  boost::json::object line{{"event", "api_request"},
                           {"request_id", log_safe_text(f.request_id, redactor)},
                           {"provider", std::string(provider_name(f.provider))},
                           {"method", log_safe_text(f.method, redactor)},
                           {"path", log_safe_text(f.path, redactor)},
                           {"model", log_safe_text(f.model, redactor)},
                           {"upstream_host", log_safe_text(f.upstream_host, redactor)},
                           {"status", f.status},
                           {"request_bytes", f.request_bytes},
                           {"response_bytes", f.response_bytes},
                           {"duration_ms", f.duration_ms}};
  return write_json(line);
}

}  // namespace awf::api
