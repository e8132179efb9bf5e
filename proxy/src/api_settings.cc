// The API proxy's settings from the environment and the --api-* flags, and
// the TLS client context of its provider connections: see api_settings.h.
#include "awf/proxy/api_settings.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstdio>

#include "awf/errno_text.h"

extern char** environ;

namespace awf::proxy {

using api::Provider;

namespace {

constexpr std::size_t kMaxKeyFileBytes = 64 * 1024;

// The variable each flag stands in for. Copilot's key is the BYOK key: a
// GitHub token is only ever sent to GitHub's own hosts, and it keeps coming
// from COPILOT_GITHUB_TOKEN.
const char* key_variable(Provider p) {
  switch (p) {
    case Provider::openai: return "OPENAI_API_KEY";
    case Provider::anthropic: return "ANTHROPIC_API_KEY";
    case Provider::copilot: return "COPILOT_PROVIDER_API_KEY";
    case Provider::gemini: return "GEMINI_API_KEY";
    case Provider::vertex: return "GOOGLE_API_KEY";
  }
  return "";
}

const char* target_variable(Provider p) {
  switch (p) {
    case Provider::openai: return "OPENAI_API_TARGET";
    case Provider::anthropic: return "ANTHROPIC_API_TARGET";
    case Provider::copilot: return "COPILOT_API_TARGET";
    case Provider::gemini: return "GEMINI_API_TARGET";
    case Provider::vertex: return "VERTEX_API_TARGET";
  }
  return "";
}

const char* base_path_variable(Provider p) {
  switch (p) {
    case Provider::openai: return "OPENAI_API_BASE_PATH";
    case Provider::anthropic: return "ANTHROPIC_API_BASE_PATH";
    case Provider::copilot: return "COPILOT_API_BASE_PATH";
    case Provider::gemini: return "GEMINI_API_BASE_PATH";
    case Provider::vertex: return "VERTEX_API_BASE_PATH";
  }
  return "";
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

// A key file's content: the whole file, surrounding whitespace (a final
// newline) trimmed; a line break or NUL left inside would split or cut the
// header line it goes into.
Result<std::string> read_key_file(const std::string& flag, const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rbe");
  if (!f) {
    const int err = errno;
    return Error{flag + ": cannot open \"" + path + "\": " + errno_text(err)};
  }
  std::string text(kMaxKeyFileBytes + 1, '\0');
  const std::size_t n = std::fread(text.data(), 1, text.size(), f);
  const bool failed = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (failed) return Error{flag + ": cannot read \"" + path + "\": " + errno_text(err)};
  if (n > kMaxKeyFileBytes) {
    return Error{flag + ": \"" + path + "\" is larger than " + std::to_string(kMaxKeyFileBytes) +
                 " bytes; expected one key"};
  }
  text.resize(n);
  std::size_t begin = 0, end = text.size();
  while (begin < end && is_space(text[begin])) ++begin;
  while (end > begin && is_space(text[end - 1])) --end;
  text = text.substr(begin, end - begin);
  if (text.empty()) return Error{flag + ": \"" + path + "\" is empty"};
  if (text.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
    return Error{flag + ": \"" + path + "\" has a line break or NUL inside the key (one key per file)"};
  }
  return text;
}

// The key an --api-key flag names, checked as the provider's own variable
// would be, with messages naming the flag's source.
Result<std::string> read_key(const ApiKeySource& source, const api::Environment& env) {
  const std::string name(api::provider_name(source.provider));
  if (source.from == ApiKeySource::From::file) return read_key_file("--api-key " + name + "=file:" + source.where, source.where);
  const std::string flag = "--api-key " + name + "=env:" + source.where;
  const auto it = env.find(source.where);
  if (it == env.end()) return Error{flag + ": " + source.where + " is not set"};
  std::vector<std::string> warnings;
  AWF_TRY_ASSIGN(std::optional<api::Secret> secret, api::read_secret(env, source.where, warnings));
  if (!secret) return Error{flag + ": " + source.where + " is empty or holds a placeholder, not a key"};
  return it->second;
}

std::string openssl_reason() {
  const unsigned long code = ::ERR_get_error();
  ::ERR_clear_error();
  if (code == 0) return "unknown error";
  char text[256];
  ::ERR_error_string_n(code, text, sizeof text);
  return text;
}

}  // namespace

api::Environment process_environment() {
  api::Environment env;
  for (char** e = environ; e && *e; ++e) {
    const std::string_view entry(*e);
    const std::size_t eq = entry.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

Result<api::ProviderSettings> load_api_settings(const Config& config, api::Environment env) {
  for (const auto& source : config.api_keys) {
    AWF_TRY_ASSIGN(std::string key, read_key(source, env));
    env[key_variable(source.provider)] = std::move(key);
  }
  for (const auto& target : config.api_targets) {
    env[target_variable(target.provider)] = target.value;
    // The BYOK URL would win over COPILOT_API_TARGET; the flag wins over both.
    if (target.provider == Provider::copilot) env.erase("COPILOT_PROVIDER_BASE_URL");
  }
  for (const auto& path : config.api_base_paths) env[base_path_variable(path.provider)] = path.value;
  return api::read_provider_settings(env);
}

ApiProxy::ApiProxy(api::ProviderSettings s)
    : settings(std::move(s)),
      redactor(api::Redactor::for_settings(settings)),
      tls(boost::asio::ssl::context::tls_client) {}

Result<std::unique_ptr<ApiProxy>> make_api_proxy(api::ProviderSettings settings, const std::string& extra_ca) {
  auto proxy = std::make_unique<ApiProxy>(std::move(settings));
  SSL_CTX* ctx = proxy->tls.native_handle();
  if (::SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return Error{"API proxy TLS context: cannot require TLS 1.2: " + openssl_reason()};
  }
  // No session resumption: a connection is kept and reused instead, so
  // tickets (and the session copies OpenSSL makes for each) would cost
  // every connection memory and work for nothing.
  ::SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  ::SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  proxy->tls.set_verify_mode(boost::asio::ssl::verify_peer);
  boost::system::error_code ec;
  proxy->tls.set_default_verify_paths(ec);
  if (ec) return Error{"API proxy TLS context: cannot use the system's trusted certificates: " + ec.message()};
  if (!extra_ca.empty()) {
    // load_verify_file adds to the store set_default_verify_paths set up:
    // the file's CAs are trusted besides the system's, never instead.
    if (::SSL_CTX_load_verify_locations(ctx, extra_ca.c_str(), nullptr) != 1) {
      return Error{"--api-ca-cert \"" + extra_ca + "\": cannot load CA certificates from it: " + openssl_reason()};
    }
  }
  return proxy;
}

intercept::ListenerKind api_listener_kind(Provider provider) {
  switch (provider) {
    case Provider::openai: return intercept::ListenerKind::api_openai;
    case Provider::anthropic: return intercept::ListenerKind::api_anthropic;
    case Provider::copilot: return intercept::ListenerKind::api_copilot;
    case Provider::gemini: return intercept::ListenerKind::api_gemini;
    case Provider::vertex: return intercept::ListenerKind::api_vertex;
  }
  return intercept::ListenerKind::api_openai;
}

Provider api_provider_of(intercept::ListenerKind kind) {
  switch (kind) {
    case intercept::ListenerKind::api_anthropic: return Provider::anthropic;
    case intercept::ListenerKind::api_copilot: return Provider::copilot;
    case intercept::ListenerKind::api_gemini: return Provider::gemini;
    case intercept::ListenerKind::api_vertex: return Provider::vertex;
    default: return Provider::openai;
  }
}

}  // namespace awf::proxy
