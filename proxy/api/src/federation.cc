// Anthropic workload identity federation: settings, the wire shapes of the
// two requests, the replies while no token is held (see federation.h).
#include "awf/api/federation.h"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <charconv>

#include "awf/api/settings.h"
#include "federation_detail.h"
#include "json_body.h"
#include "text.h"

namespace awf::api {

namespace {

std::string_view get(const Environment& env, const std::string& name) {
  const auto it = env.find(name);
  return it == env.end() ? std::string_view() : text::trim(it->second);
}

constexpr std::string_view kWifSwitch = "AWF_AUTH_TYPE=github-oidc with AWF_AUTH_PROVIDER=anthropic";

std::string line_break_error(const std::string& name) {
  return name + ": the value has a line break (CR or LF) or a NUL byte inside it; fix the variable";
}

// A required, single-line, non-secret value.
Result<std::string> required(const Environment& env, const std::string& name, std::string_view why) {
  const std::string_view value = get(env, name);
  if (value.empty()) return Error{name + " is not set: " + std::string(why)};
  if (!text::is_single_line(value)) return Error{line_break_error(name)};
  return std::string(value);
}

bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

bool is_unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

std::string percent_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    if (is_unreserved(c)) {
      out += c;
    } else {
      const auto b = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 15];
    }
  }
  return out;
}

boost::json::string_view js(std::string_view s) { return {s.data(), s.size()}; }

}  // namespace

std::string HttpUrl::authority() const {
  const bool v6 = host.find(':') != std::string::npos;
  std::string out = v6 ? "[" + host + "]" : host;
  if (port != (tls ? 443 : 80)) out += ":" + std::to_string(port);
  return out;
}

Result<HttpUrl> parse_http_url(std::string_view variable, std::string_view value, bool show_value) {
  const std::string name(variable);
  const std::string shown = show_value ? " (\"" + std::string(text::trim(value)) + "\")" : "";
  auto fail = [&](std::string_view why) { return Error{name + shown + ": " + std::string(why)}; };
  std::string_view v = text::trim(value);
  if (!text::is_single_line(v) || v.find_first_of(" \t") != std::string_view::npos) {
    return Error{name + ": the URL has a space, line break or NUL inside it"};
  }
  HttpUrl url;
  if (text::istarts_with(v, "https://")) {
    url.tls = true;
    url.port = 443;
    v.remove_prefix(8);
  } else if (text::istarts_with(v, "http://")) {
    url.tls = false;
    url.port = 80;
    v.remove_prefix(7);
  } else {
    return fail("expected an http:// or https:// URL");
  }
  v = v.substr(0, v.find('#'));
  const std::size_t end = v.find_first_of("/?");
  std::string_view authority = v.substr(0, end);
  std::string_view rest = end == std::string_view::npos ? std::string_view() : v.substr(end);
  if (authority.find('@') != std::string_view::npos) return fail("user info in the URL is not supported");
  std::string_view host = authority;
  std::string_view port;
  bool has_port = false;
  if (authority.starts_with("[")) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail("an IPv6 literal without its closing ']'");
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("unexpected text after the IPv6 literal");
      port = after.substr(1);
      has_port = true;
    }
    if (host.empty() || host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos) {
      return fail("not a valid IPv6 literal");
    }
  } else if (const std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    has_port = true;
  }
  url.host = text::to_lower(host);
  while (!url.host.empty() && url.host.back() == '.') url.host.pop_back();
  if (url.host.empty()) return fail("no host");
  if (!authority.starts_with("[")) {
    for (char c : url.host) {
      if (!is_host_char(c)) return fail("the host has a character no host name has");
    }
  }
  if (has_port) {
    unsigned n = 0;
    const auto r = std::from_chars(port.data(), port.data() + port.size(), n);
    if (port.empty() || r.ec != std::errc() || r.ptr != port.data() + port.size() || n == 0 || n > 65535) {
      return fail("the port must be a number from 1 to 65535");
    }
    url.port = static_cast<std::uint16_t>(n);
  }
  url.target = rest.empty() || rest.front() == '?' ? "/" + std::string(rest) : std::string(rest);
  return url;
}

bool github_oidc_requested(const Environment& env) {
  return text::to_lower(get(env, "AWF_AUTH_TYPE")) == "github-oidc";
}

const std::vector<std::string>& auth_variables() {
  static const std::vector<std::string> kNames = {
      "AWF_AUTH_TYPE", "AWF_AUTH_PROVIDER", "AWF_AUTH_OIDC_AUDIENCE",
      // Azure Entra, AWS and GCP: refused by this build, still the proxy's.
      "AWF_AUTH_AZURE_TENANT_ID", "AWF_AUTH_AZURE_CLIENT_ID", "AWF_AUTH_AZURE_SCOPE", "AWF_AUTH_AZURE_CLOUD",
      "AWF_AUTH_AWS_ROLE_ARN", "AWF_AUTH_AWS_REGION", "AWF_AUTH_AWS_ROLE_SESSION_NAME",
      "AWF_AUTH_GCP_WORKLOAD_IDENTITY_PROVIDER", "AWF_AUTH_GCP_SERVICE_ACCOUNT", "AWF_AUTH_GCP_SCOPE",
      // Anthropic.
      "AWF_AUTH_ANTHROPIC_FEDERATION_RULE_ID", "AWF_AUTH_ANTHROPIC_ORGANIZATION_ID",
      "AWF_AUTH_ANTHROPIC_SERVICE_ACCOUNT_ID", "AWF_AUTH_ANTHROPIC_WORKSPACE_ID", "AWF_AUTH_ANTHROPIC_TOKEN_URL"};
  return kNames;
}

Result<std::optional<AnthropicFederation>> read_anthropic_federation(const Environment& env,
                                                                     std::vector<std::string>& warnings) {
  const std::string_view raw_type = get(env, "AWF_AUTH_TYPE");
  const std::string type = text::to_lower(raw_type);
  if (type.empty() || type == "api-key") return std::optional<AnthropicFederation>();
  if (!text::is_single_line(raw_type)) return Error{line_break_error("AWF_AUTH_TYPE")};
  if (type != "github-oidc") {
    return Error{"AWF_AUTH_TYPE is set to \"" + std::string(raw_type) +
                 "\": expected \"api-key\" (static keys) or \"github-oidc\" (GitHub Actions OIDC)"};
  }
  const std::string_view raw_provider = get(env, "AWF_AUTH_PROVIDER");
  if (!text::is_single_line(raw_provider)) return Error{line_break_error("AWF_AUTH_PROVIDER")};
  const std::string provider = text::to_lower(raw_provider);
  if (provider.empty()) {
    return Error{"AWF_AUTH_TYPE=github-oidc needs AWF_AUTH_PROVIDER; this build of the API proxy supports "
                 "\"anthropic\" (Anthropic workload identity federation)"};
  }
  if (provider != "anthropic") {
    std::string what = "\"" + std::string(raw_provider) + "\"";
    if (provider == "azure") what += " (Azure Entra ID)";
    else if (provider == "aws") what += " (AWS STS and SigV4 signing)";
    else if (provider == "gcp") what += " (GCP workload identity federation)";
    return Error{"AWF_AUTH_PROVIDER is " + what +
                 ": GitHub OIDC for that provider is not supported by this build of the API proxy; only "
                 "\"anthropic\" (Anthropic workload identity federation) is. Give the provider a static key "
                 "instead (and unset AWF_AUTH_TYPE)"};
  }

  const std::string why = "it is required with " + std::string(kWifSwitch);
  AnthropicFederation f;
  AWF_TRY_ASSIGN(f.federation_rule_id, required(env, "AWF_AUTH_ANTHROPIC_FEDERATION_RULE_ID", why));
  AWF_TRY_ASSIGN(f.organization_id, required(env, "AWF_AUTH_ANTHROPIC_ORGANIZATION_ID", why));
  AWF_TRY_ASSIGN(f.service_account_id, required(env, "AWF_AUTH_ANTHROPIC_SERVICE_ACCOUNT_ID", why));
  if (const std::string_view ws = get(env, "AWF_AUTH_ANTHROPIC_WORKSPACE_ID"); !ws.empty()) {
    if (!text::is_single_line(ws)) return Error{line_break_error("AWF_AUTH_ANTHROPIC_WORKSPACE_ID")};
    f.workspace_id = std::string(ws);
  }
  const std::string_view audience = get(env, "AWF_AUTH_OIDC_AUDIENCE");
  if (!text::is_single_line(audience)) return Error{line_break_error("AWF_AUTH_OIDC_AUDIENCE")};
  f.audience = audience.empty() ? std::string(kDefaultFederationAudience) : std::string(audience);

  const std::string actions_why =
      "GitHub Actions sets it for jobs with `permissions: id-token: write`, and " + std::string(kWifSwitch) +
      " needs it";
  AWF_TRY_ASSIGN(const std::string request_url, required(env, "ACTIONS_ID_TOKEN_REQUEST_URL", actions_why));
  AWF_TRY_ASSIGN(f.request_url, parse_http_url("ACTIONS_ID_TOKEN_REQUEST_URL", request_url, false));
  AWF_TRY_ASSIGN(const std::optional<Secret> token, read_secret(env, "ACTIONS_ID_TOKEN_REQUEST_TOKEN", warnings));
  if (!token) return Error{"ACTIONS_ID_TOKEN_REQUEST_TOKEN is not set: " + actions_why};
  f.request_token = *token;

  const std::string_view token_url = get(env, "AWF_AUTH_ANTHROPIC_TOKEN_URL");
  AWF_TRY_ASSIGN(f.token_url, parse_http_url("AWF_AUTH_ANTHROPIC_TOKEN_URL",
                                             token_url.empty() ? kDefaultFederationTokenUrl : token_url, true));
  if (!f.token_url.tls) {
    warnings.push_back("AWF_AUTH_ANTHROPIC_TOKEN_URL is plain http://: the GitHub identity token and the access "
                       "token travel unencrypted");
  }
  if (!f.request_url.tls) {
    warnings.push_back("ACTIONS_ID_TOKEN_REQUEST_URL is plain http://: the request token and the identity token "
                       "travel unencrypted");
  }
  return std::optional<AnthropicFederation>(std::move(f));
}

std::string token_request_target(const AnthropicFederation& federation) {
  const std::string& target = federation.request_url.target;
  const std::size_t q = target.find('?');
  std::string out = target.substr(0, q);
  std::string query;
  if (q != std::string::npos) {
    std::string_view rest = std::string_view(target).substr(q + 1);
    while (!rest.empty()) {
      const std::size_t amp = rest.find('&');
      const std::string_view item = rest.substr(0, amp);
      const std::string_view key = item.substr(0, item.find('='));
      if (!item.empty() && text::percent_decode(key, true) != "audience") {
        if (!query.empty()) query += '&';
        query += item;
      }
      if (amp == std::string_view::npos) break;
      rest.remove_prefix(amp + 1);
    }
  }
  if (!query.empty()) query += '&';
  query += "audience=" + percent_encode(federation.audience);
  return out + "?" + query;
}

std::string exchange_body(const AnthropicFederation& federation, std::string_view jwt) {
  boost::json::object body{{"grant_type", js(kJwtBearerGrant)},
                           {"assertion", js(jwt)},
                           {"federation_rule_id", federation.federation_rule_id},
                           {"organization_id", federation.organization_id},
                           {"service_account_id", federation.service_account_id}};
  if (federation.workspace_id) body["workspace_id"] = *federation.workspace_id;
  return write_json(body);
}

namespace {

Result<boost::json::object> parse_object(std::string_view body, std::string_view what) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(boost::json::string_view(body.data(), body.size()), ec);
  if (ec || !v.is_object()) return Error{std::string(what) + " is not a JSON object"};
  return std::move(v.as_object());
}

// A token value we can put into a header line.
Result<Secret> token_member(const boost::json::object& o, std::string_view member, std::string_view what) {
  const auto* v = o.if_contains(js(member));
  if (!v || !v->is_string() || v->as_string().empty()) {
    return Error{std::string(what) + " has no \"" + std::string(member) + "\" string"};
  }
  const std::string_view s(v->as_string().data(), v->as_string().size());
  if (!text::is_single_line(s) || text::trim(s).size() != s.size()) {
    return Error{std::string(what) + ": \"" + std::string(member) +
                 "\" has white space, a line break or a NUL inside it"};
  }
  return Secret(std::string(s));
}

}  // namespace

Result<Secret> parse_token_request_answer(std::string_view body) {
  constexpr std::string_view what = "the GitHub Actions token request's answer";
  AWF_TRY_ASSIGN(const boost::json::object o, parse_object(body, what));
  return token_member(o, "value", what);
}

Result<ExchangedToken> parse_exchange_answer(std::string_view body) {
  constexpr std::string_view what = "the token exchange's answer";
  AWF_TRY_ASSIGN(const boost::json::object o, parse_object(body, what));
  ExchangedToken out;
  AWF_TRY_ASSIGN(out.access_token, token_member(o, "access_token", what));
  constexpr std::int64_t kDay = 24 * 3600;
  if (const auto* v = o.if_contains("expires_in"); v && v->is_number()) {
    boost::system::error_code ec;
    const double seconds = v->to_number<double>(ec);
    if (!ec && seconds >= 1) out.lifetime = std::chrono::seconds(seconds > kDay ? kDay : static_cast<std::int64_t>(seconds));
  }
  return out;
}

std::chrono::milliseconds refresh_delay(std::chrono::seconds lifetime) {
  using std::chrono::milliseconds;
  const milliseconds life = lifetime;
  milliseconds delay = std::min(life * 3 / 4, life - milliseconds(300'000));
  delay = std::max(delay, life / 4);
  return std::max(delay, milliseconds(1000));
}

void use_federated_token(ProviderConfig& anthropic, std::vector<std::string>& warnings) {
  if (anthropic.key) {
    warnings.push_back("ANTHROPIC_API_KEY is not used: AWF_AUTH_TYPE=github-oidc with AWF_AUTH_PROVIDER=anthropic "
                       "authenticates with a workload identity federation token instead");
  }
  anthropic.key.reset();
  anthropic.federated = true;
  anthropic.auth_header = "authorization";
  anthropic.auth_style = AuthStyle::bearer;
}

// ------------------------------------------------------------- replies

namespace {

LocalReply federation_json_reply(int status, const boost::json::object& body, std::string_view request_id) {
  return LocalReply{status,
                    {{"Content-Type", "application/json"}, {"X-Request-ID", std::string(request_id)}},
                    write_json(body),
                    {}};
}

constexpr std::string_view kPendingMessage =
    "The Anthropic access token (workload identity federation through GitHub Actions OIDC) is not available yet; "
    "retry shortly";

}  // namespace

LocalReply federation_pending_reply(Provider provider, std::string_view request_id) {
  boost::json::object error{{"message", js(kPendingMessage)},
                            {"type", "provider_not_configured"},
                            {"provider", js(provider_name(provider))},
                            {"port", provider_port(provider)},
                            {"retryable", true}};
  return federation_json_reply(503, {{"error", error}}, request_id);
}

LocalReply federation_pending_health_reply(Provider provider, std::string_view request_id) {
  return federation_json_reply(503,
                               {{"status", "unavailable"},
                                {"service", "awf-api-proxy-" + std::string(provider_name(provider))},
                                {"error", js(kPendingMessage)}},
                               request_id);
}

}  // namespace awf::api
