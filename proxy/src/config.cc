// Flag and YAML parsing for awf-proxy. The YAML file is turned into the
// equivalent long flags placed before the command line, so both sources go
// through one set of validators and the command line wins for single values.
#include "awf/proxy/config.h"

#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <thread>

#include "awf/api/settings.h"
#include "awf/host_port.h"

#ifndef AWF_PROXY_VERSION
#define AWF_PROXY_VERSION "0.0.0"
#endif

namespace awf::proxy {

const char* proxy_version() { return AWF_PROXY_VERSION; }

std::string ListenAddress::text() const { return join_host_port(host, port); }

Result<ListenAddress> parse_listen_address(std::string_view text) {
  auto bad = [&] {
    return Error{"--listen \"" + std::string(text) + "\": expected ADDR:PORT, e.g. 127.0.0.1:3128 or [::1]:3128"};
  };
  // The port is required; an unbracketed IPv6 address leaves `:` in the
  // port text, which parse_port refuses.
  const HostPort split = split_host_port(text);
  if (split.fault != HostPort::Fault::none) return bad();
  const std::optional<std::uint16_t> port = parse_port(split.port_text);
  boost::system::error_code ec;
  boost::asio::ip::make_address(std::string(split.host), ec);
  if (ec || !port) return bad();
  return ListenAddress{std::string(split.host), *port};
}

namespace {

// The YAML keys, each the name of a long flag; `true` flags take no value.
const char* const kFlagKeys[] = {"enable-host-access", "enable-dlp", "admin-allow-non-loopback"};
const char* const kValueKeys[] = {
    "listen", "listen-socks", "allow-domains", "block-domains", "allow-domains-file", "block-domains-file", "ruleset-file",
    "allow-host-ports", "dns-servers", "hosts-file", "allow-private-ranges", "log-dir", "log-format", "log-level",
    "threads", "connect-timeout", "request-timeout", "read-timeout", "client-lifetime", "shutdown-timeout",
    "max-header-bytes", "max-connections", "listen-http-intercept", "listen-tls-intercept", "listen-dns",
    "dns-policy", "dns-refuse-code", "dns-timeout", "client-hello-timeout", "tunnel-sni-check", "policy-mode", "allowed-methods", "budget-rps", "budget-tunnels", "budget-bytes", "netns", "dns-tcp-timeout",
    "dns-tcp-max-connections", "upstream-proxy", "upstream-bypass", "api-listen", "api-key", "api-target", "api-base-path", "api-ca-cert",
    "ssl-bump-cert", "ssl-bump-key", "ssl-bump-upstream-ca", "ssl-bump-exclude", "allow-urls",
    "admin-listen",
};

// "500", "64K", "500M", "2G" (powers of 1024); nullopt when malformed or
// too large.
std::optional<std::uint64_t> parse_byte_size(std::string_view text) {
  std::uint64_t value = 0, unit = 1;
  std::size_t i = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    if (value > (UINT64_MAX - 9) / 10) return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(text[i] - '0');
  }
  if (i == 0) return std::nullopt;
  const std::string_view suffix = text.substr(i);
  if (suffix == "K" || suffix == "k") unit = 1024;
  else if (suffix == "M" || suffix == "m") unit = 1024 * 1024;
  else if (suffix == "G" || suffix == "g") unit = 1024ull * 1024 * 1024;
  else if (!suffix.empty()) return std::nullopt;
  if (value > UINT64_MAX / unit) return std::nullopt;
  return value * unit;
}

Result<std::vector<std::string>> yaml_to_flags(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return Error{"cannot read config file \"" + path + "\": " + std::strerror(errno)};
  } catch (const YAML::Exception& e) {
    return Error{"config file \"" + path + "\": invalid YAML: " + e.what()};
  }
  std::vector<std::string> out;
  if (root.IsNull()) return out;
  if (!root.IsMap()) return Error{"config file \"" + path + "\": expected a mapping of option names to values"};
  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>();
    const YAML::Node& value = kv.second;
    bool is_flag = std::find(std::begin(kFlagKeys), std::end(kFlagKeys), key) != std::end(kFlagKeys);
    bool is_value = std::find(std::begin(kValueKeys), std::end(kValueKeys), key) != std::end(kValueKeys);
    if (!is_flag && !is_value) {
      return Error{"config file \"" + path + "\": unknown key \"" + key + "\" (keys are the long option names, see --help)"};
    }
    try {
      if (is_flag) {
        if (!value.IsScalar()) return Error{"config file \"" + path + "\": \"" + key + "\" must be true or false"};
        if (value.as<bool>()) out.push_back("--" + key);
      } else if (value.IsSequence()) {
        for (const auto& item : value) {
          if (!item.IsScalar()) return Error{"config file \"" + path + "\": \"" + key + "\" items must be strings"};
          out.push_back("--" + key + "=" + item.as<std::string>());
        }
      } else if (value.IsScalar()) {
        out.push_back("--" + key + "=" + value.as<std::string>());
      } else {
        return Error{"config file \"" + path + "\": \"" + key + "\" must be a string or a list of strings"};
      }
    } catch (const YAML::Exception& e) {
      return Error{"config file \"" + path + "\": \"" + key + "\": " + e.what()};
    }
  }
  return out;
}

constexpr const char* kProviderNames = "openai, anthropic, copilot, gemini or vertex";

// "PROVIDER=VALUE" of the --api-* flags: the provider and the value, or an
// error. `show_value` false keeps the text out of the message: --api-key's
// value may be a key typed where a source was expected.
Result<std::pair<api::Provider, std::string>> split_provider_value(const std::string& flag, const std::string& text,
                                                                   bool show_value) {
  const std::size_t eq = text.find('=');
  const std::string shown = show_value ? " \"" + text + "\"" : "";
  if (eq == std::string::npos) {
    return Error{flag + shown + ": expected PROVIDER=VALUE, PROVIDER one of " + kProviderNames};
  }
  const std::string name = text.substr(0, eq);
  const std::optional<api::Provider> provider = api::provider_named(name);
  if (!provider) {
    return Error{flag + shown + ": unknown provider" + (show_value ? " \"" + name + "\"" : "") + " (expected " +
                 kProviderNames + ")"};
  }
  return std::pair{*provider, text.substr(eq + 1)};
}

// --api-key PROVIDER=env:VARIABLE or PROVIDER=file:PATH. The key itself is
// refused: the command line of every process is readable by every user.
Result<ApiKeySource> parse_api_key_source(const std::string& text) {
  AWF_TRY_ASSIGN(auto split, split_provider_value("--api-key", text, false));
  const std::string name(api::provider_name(split.first));
  const std::string& value = split.second;
  ApiKeySource source;
  source.provider = split.first;
  if (value.starts_with("env:")) {
    source.from = ApiKeySource::From::env;
    source.where = value.substr(4);
    if (source.where.empty() || source.where.find_first_of("= \t") != std::string::npos) {
      return Error{"--api-key " + name + "=env:" + source.where + ": expected the name of an environment variable"};
    }
  } else if (value.starts_with("file:")) {
    source.from = ApiKeySource::From::file;
    source.where = value.substr(5);
    if (source.where.empty()) return Error{"--api-key " + name + "=file:: expected a file's path after file:"};
  } else {
    return Error{"--api-key " + name +
                 "=...: expected env:VARIABLE or file:PATH (the value is not shown; a key itself must not be given on "
                 "the command line, where every user can read it)"};
  }
  return source;
}

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(std::llround(seconds * 1000.0)));
}

}  // namespace

Result<CommandLine> parse_command_line(int argc, const char* const* argv) {
  // First pass: only --config, so its flags can be placed in front.
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  std::string config_file;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) config_file = args[i + 1];
    else if (args[i].rfind("--config=", 0) == 0) config_file = args[i].substr(9);
  }
  std::vector<std::string> all;
  if (!config_file.empty()) {
    auto flags = yaml_to_flags(config_file);
    if (!flags) return flags.error();
    all = std::move(*flags);
  }
  all.insert(all.end(), args.begin(), args.end());

  CommandLine out;
  Config& c = out.config;
  std::vector<std::string> listen, dns_servers, private_ranges;
  std::vector<std::string> listen_http, listen_tls, listen_dns;
  std::vector<std::string> listen_socks;
  std::string admin_listen;
  std::string dns_policy = "allowlist", dns_refuse_code = "refused", health_check, tunnel_sni_check = "on";
  std::string upstream_proxy, upstream_bypass;
  std::string policy_mode = "enforce";
  std::string allowed_methods;
  std::string budget_bytes;
  std::string ssl_bump_exclude, allow_urls;
  double dns_timeout = 2, client_hello_timeout = 10, dns_tcp_timeout = 5;
  std::vector<std::string> api_listen, api_keys, api_targets, api_base_paths;
  std::string log_format = "awf";
  double connect_timeout = 30, request_timeout = 120, read_timeout = 1800, client_lifetime = 8 * 3600;
  double shutdown_timeout = 5;

  CLI::App app{"awf-proxy: the egress proxy of awf. Forward HTTP and CONNECT tunnels, transparent HTTP/HTTPS "
               "interception and a filtering DNS front end, decided by awf's domain policy, logged in awf's and "
               "Squid's formats.",
               "awf-proxy"};
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.set_version_flag("--version", std::string("awf-proxy ") + proxy_version());
  app.add_option("--config", c.config_file, "YAML file with the same keys as the long options (listen: [..])");
  app.add_option("--listen", listen, "ADDR:PORT to listen on, repeatable (127.0.0.1:3128, [::1]:3128; port 0 picks one)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--listen-http-intercept", listen_http,
                 "ADDR:PORT for redirected plain HTTP (origin-form, destination from Host), repeatable")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--listen-tls-intercept", listen_tls,
                 "ADDR:PORT for redirected TLS (destination from the ClientHello's SNI), repeatable")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--listen-dns", listen_dns, "ADDR:PORT of the filtering DNS front end, UDP and TCP, repeatable")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--listen-socks", listen_socks,
                 "ADDR:PORT of a SOCKS5 front end (no authentication, CONNECT only, decided as an HTTP CONNECT to the "
                 "same host:port), repeatable")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--dns-policy", dns_policy,
                 "allowlist: resolve only names the policy allows, refuse the rest (default); open: forward every "
                 "query (awf's behaviour)")
      ->check(CLI::IsMember({"allowlist", "open"}));
  app.add_option("--dns-refuse-code", dns_refuse_code, "answer to refused DNS queries: refused (default) or nxdomain")
      ->check(CLI::IsMember({"refused", "nxdomain"}));
  app.add_option("--dns-timeout", dns_timeout, "seconds one DNS upstream exchange may take (2)")
      ->check(CLI::PositiveNumber);
  app.add_option("--dns-tcp-timeout", dns_tcp_timeout,
                 "seconds a DNS-over-TCP client has to send each whole query once it started it, and to take "
                 "each answer (5); a connection idle between queries is closed after 10")
      ->check(CLI::PositiveNumber);
  app.add_option("--dns-tcp-max-connections", c.dns_tcp_max_connections,
                 "DNS-over-TCP clients at once, counted in --max-connections and kept below it so they cannot "
                 "take the slots of HTTP and TLS clients (default: a quarter of --max-connections, at least 1)");
  app.add_option("--client-hello-timeout", client_hello_timeout,
                 "seconds a redirected TLS client, or one opening a CONNECT tunnel to port 443, has to send its whole "
                 "ClientHello (10)")
      ->check(CLI::PositiveNumber);
  app.add_option("--netns", c.netns,
                 "PATH of a network namespace (/proc/PID/ns/net, /run/netns/NAME): every --listen* socket is created "
                 "inside it, so a sandbox with only loopback finds the proxy at its own 127.0.0.1, while the proxy "
                 "connects out from the namespace it was started in (needs CAP_SYS_ADMIN over that namespace)");
  app.add_option("--tunnel-sni-check", tunnel_sni_check,
                 "on (default): a CONNECT tunnel to port 443 must start with a TLS ClientHello whose server name the "
                 "policy allows, else it is refused before any byte reaches the origin (domain fronting, plain bytes, "
                 "no name); off: relay such tunnels unchecked, for clients that need raw tunnels")
      ->check(CLI::IsMember({"on", "off"}));
  app.add_option("--policy-mode", policy_mode,
                 "enforce (default): refuse what the policy denies; report: let it through and log what enforce "
                 "would have refused, with the reason (audit.jsonl \"would_deny\"), to learn an allowlist; the SSRF "
                 "guard, --enable-dlp and malformed requests still refuse")
      ->check(CLI::IsMember({"enforce", "report"}));
  app.add_option("--budget-rps", c.budget_rps,
                 "requests (and new tunnels) per second per registrable domain, all its names together "
                 "(api.example.com and cdn.example.com are example.com's); over it: 429 with Retry-After")
      ->check(CLI::PositiveNumber);
  app.add_option("--budget-tunnels", c.budget_tunnels,
                 "concurrent tunnels (CONNECT, transparent TLS, SOCKS, WebSocket) per registrable domain; over it: "
                 "429, or the tunnel refused")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
  app.add_option("--budget-bytes", budget_bytes,
                 "bytes per run per registrable domain, both directions (a number with K, M or G); once spent, new "
                 "requests to its names get 429");
  app.add_option("--allowed-methods", allowed_methods,
                 "comma list of the HTTP methods requests may use (e.g. GET,HEAD,OPTIONS for a read-only agent), "
                 "checked on plain HTTP and bumped HTTPS; tunnels the proxy cannot look into (CONNECT to names not "
                 "bumped, WebSocket upgrades) are then refused unless CONNECT is listed");
  app.add_flag("--enable-dlp", c.enable_dlp,
               "refuse (403, logged with the pattern's name and the URL redacted) requests whose URL carries a "
               "credential: GitHub, OpenAI, Anthropic, AWS, Google or Slack token shapes, bearer/authorization "
               "query parameters, a private key; plain HTTP and CONNECT authorities (HTTPS paths are not visible)");
  app.add_option("--upstream-proxy", upstream_proxy,
                 "http://HOST[:PORT] (port 3128 when none is given): send allowed requests through this parent HTTP "
                 "proxy, tunnels and TLS as CONNECT, plain HTTP in absolute form; the parent resolves the names");
  app.add_option("--upstream-bypass", upstream_bypass,
                 "comma list of domains reached directly, not through --upstream-proxy (a no_proxy list: "
                 "\"corp.example\" covers the name and every name under it)");
  app.add_option("--ssl-bump-cert", c.ssl_bump_cert,
                 "PEM certificate of the CA that signs the certificates minted for bumped TLS: CONNECT tunnels and "
                 "redirected TLS to allowed names are terminated, each request decided (--allow-urls, --enable-dlp) "
                 "and logged with its https URL (needs --ssl-bump-key)");
  app.add_option("--ssl-bump-key", c.ssl_bump_key,
                 "PEM private key of --ssl-bump-cert; must not be readable by group or others");
  app.add_option("--ssl-bump-upstream-ca", c.ssl_bump_upstream_ca,
                 "PEM file of CA certificates trusted for the origins of bumped connections in addition to the "
                 "system store");
  app.add_option("--ssl-bump-exclude", ssl_bump_exclude,
                 "comma list of domains whose TLS is relayed untouched, never bumped (\"bank.example\" covers the "
                 "name and every name under it)");
  app.add_option("--allow-urls", allow_urls,
                 "comma list of https:// URL patterns (awf's grammar, * wildcards); with it, a bumped request must "
                 "match one, else 403 (needs --ssl-bump-cert)");
  app.add_option("--admin-listen", admin_listen,
                 "ADDR:PORT of the admin listener: GET /metrics (Prometheus text), /healthz, /policy (JSON); in the "
                 "proxy's own network namespace, never inside --netns; loopback only unless "
                 "--admin-allow-non-loopback");
  app.add_flag("--admin-allow-non-loopback", c.admin_allow_non_loopback,
               "let --admin-listen bind an address other than loopback (anyone who reaches it reads the policy and "
               "the traffic counts)");
  app.add_option("--health-check", health_check,
                 "probe the forward listener at ADDR:PORT and exit 0 when it answers, 1 otherwise (container "
                 "HEALTHCHECK); the probe is not logged");
  app.add_option("--api-listen", api_listen,
                 "PROVIDER=ADDR:PORT: a plain-HTTP listener of the API proxy for one LLM provider (openai, anthropic, "
                 "copilot, gemini, vertex), repeatable; requests get the provider's real credential and go to it over "
                 "verified TLS (docs/api-proxy.md)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--api-key", api_keys,
                 "PROVIDER=env:VARIABLE or PROVIDER=file:PATH: where the provider's key is read at start-up (a file "
                 "is read once, trimmed; line breaks refused), instead of its usual variable (OPENAI_API_KEY, ...); "
                 "copilot's is the BYOK key (COPILOT_PROVIDER_API_KEY). Repeatable")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--api-target", api_targets,
                 "PROVIDER=HOST: the provider's upstream host instead of *_API_TARGET or the default (always "
                 "https://HOST:443), repeatable")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--api-base-path", api_base_paths,
                 "PROVIDER=PATH: a prefix for every path sent to the provider instead of *_API_BASE_PATH, repeatable")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--api-ca-cert", c.api_ca_cert,
                 "PEM file of CA certificates trusted for provider connections in addition to the system store");
  app.add_option("--allow-domains", c.policy.allow_domains, "allowed domains, comma list, repeatable (awf grammar)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--block-domains", c.policy.block_domains, "blocked domains, comma list, repeatable; beats allow")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--allow-domains-file", c.policy.allow_domains_files, "file of allowed domains, repeatable")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--block-domains-file", c.policy.block_domains_files, "file of blocked domains, repeatable")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--ruleset-file", c.policy.ruleset_files, "awf ruleset YAML file, repeatable")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--allow-host-ports", c.policy.allow_host_ports,
                 "extra destination ports/ranges beyond 80 and 443 (requires --enable-host-access)");
  app.add_flag("--enable-host-access", c.enable_host_access,
               "allow host.docker.internal to resolve to a private address, and enable --allow-host-ports");
  app.add_option("--dns-servers", dns_servers, "DNS servers, IP[:PORT] comma list (default: /etc/resolv.conf)")
      ->delimiter(',')
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--hosts-file", c.hosts_file, "hosts file answering before DNS, like Squid's hosts_file");
  app.add_option("--allow-private-ranges", private_ranges,
                 "CIDR list the SSRF guard lets through (default: refuse loopback, RFC 1918, CGNAT, link-local, ULA, "
                 "multicast and metadata answers)")
      ->delimiter(',')
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--log-dir", c.log_dir, "write DIR/access.log and DIR/audit.jsonl (default: access lines on stderr)");
  app.add_option("--log-format", log_format, "access.log format: awf (firewall_detailed) or squid (native)")
      ->check(CLI::IsMember({"awf", "squid"}));
  app.add_option("--log-level", c.log_level, "diagnostics on stderr: trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app.add_option("--threads", c.threads, "I/O threads (default: one per core)")->check(CLI::Range(0u, 256u));
  app.add_option("--connect-timeout", connect_timeout, "seconds to resolve and connect upstream (30)")
      ->check(CLI::PositiveNumber);
  app.add_option("--request-timeout", request_timeout, "seconds to receive a request head, also between requests (120)")
      ->check(CLI::PositiveNumber);
  app.add_option("--read-timeout", read_timeout, "seconds a transfer or tunnel may stay idle (1800)")
      ->check(CLI::PositiveNumber);
  app.add_option("--client-lifetime", client_lifetime, "maximum seconds of one client connection (28800)")
      ->check(CLI::PositiveNumber);
  app.add_option("--shutdown-timeout", shutdown_timeout, "seconds SIGTERM waits for transfers before closing them (5)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-header-bytes", c.max_header_bytes, "limit of a request or response head (65536)")
      ->check(CLI::Range(1024, 16 * 1024 * 1024));
  app.add_option("--max-connections", c.max_connections, "concurrent client connections (default: from the fd limit)");

  std::vector<std::string> reversed(all.rbegin(), all.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    out.exit_code = 0;
    out.output = app.help();
    return out;
  } catch (const CLI::CallForVersion&) {
    out.exit_code = 0;
    out.output = std::string("awf-proxy ") + proxy_version() + "\n";
    return out;
  } catch (const CLI::ParseError& e) {
    return Error{e.what()};
  }

  for (const auto& l : listen) {
    auto a = parse_listen_address(l);
    if (!a) return a.error();
    c.listen.push_back(*a);
  }
  if (c.listen.empty()) {
    c.listen.push_back({"127.0.0.1", 3128});
    c.listen_is_default = true;
  }
  auto add_listen = [](const std::vector<std::string>& from, const char* flag,
                       std::vector<ListenAddress>& to) -> Status {
    for (const auto& l : from) {
      auto a = parse_listen_address(l);
      if (!a) return Error{std::string(flag) + a.message().substr(std::string_view("--listen").size())};
      to.push_back(*a);
    }
    return ok_status();
  };
  if (Status s = add_listen(listen_http, "--listen-http-intercept", c.listen_http_intercept); !s) return s.error();
  if (Status s = add_listen(listen_tls, "--listen-tls-intercept", c.listen_tls_intercept); !s) return s.error();
  if (Status s = add_listen(listen_dns, "--listen-dns", c.listen_dns); !s) return s.error();
  if (Status s = add_listen(listen_socks, "--listen-socks", c.listen_socks); !s) return s.error();
  for (const auto& text : api_listen) {
    AWF_TRY_ASSIGN(auto split, split_provider_value("--api-listen", text, true));
    auto a = parse_listen_address(split.second);
    if (!a) {
      return Error{"--api-listen \"" + text + "\": expected PROVIDER=ADDR:PORT with an IP address, e.g. " +
                   std::string(api::provider_name(split.first)) + "=127.0.0.1:" +
                   std::to_string(api::provider_port(split.first))};
    }
    c.api_listen.push_back({split.first, *a});
  }
  for (const auto& text : api_keys) {
    AWF_TRY_ASSIGN(ApiKeySource source, parse_api_key_source(text));
    c.api_keys.push_back(std::move(source));
  }
  for (const auto& text : api_targets) {
    AWF_TRY_ASSIGN(auto split, split_provider_value("--api-target", text, true));
    const std::string flag = "--api-target " + std::string(api::provider_name(split.first));
    AWF_TRY_ASSIGN(api::ReducedTarget target, api::reduce_api_target(flag, split.second));
    // A flag is read literally: what the variable's reader would drop with
    // a warning (scheme, port, path) is refused here.
    if (target.warning || target.host != split.second) {
      return Error{flag + "=" + split.second +
                   ": expected a host name only (the upstream is always https://HOST:443; a path prefix is "
                   "--api-base-path)"};
    }
    c.api_targets.push_back({split.first, target.host});
  }
  for (const auto& text : api_base_paths) {
    AWF_TRY_ASSIGN(auto split, split_provider_value("--api-base-path", text, true));
    const std::string flag = "--api-base-path " + std::string(api::provider_name(split.first));
    AWF_TRY_ASSIGN(std::string path, api::normalize_base_path(flag, split.second));
    c.api_base_paths.push_back({split.first, std::move(path)});
  }
  if (!admin_listen.empty()) {
    auto a = parse_listen_address(admin_listen);
    if (!a) return Error{"--admin-listen" + a.message().substr(std::string_view("--listen").size())};
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(a->host, ec);
    if (!c.admin_allow_non_loopback && (ec || !address.is_loopback())) {
      return Error{"--admin-listen \"" + admin_listen +
                   "\": not a loopback address; the admin endpoints show the policy and the traffic counts to "
                   "whoever reaches them: use 127.0.0.1 or [::1], or add --admin-allow-non-loopback"};
    }
    c.admin_listen = *a;
  }
  if (!health_check.empty()) {
    auto a = parse_listen_address(health_check);
    if (!a) return Error{"--health-check" + a.message().substr(std::string_view("--listen").size())};
    if (a->port == 0) return Error{"--health-check \"" + health_check + "\": the port must not be 0"};
    c.health_check = *a;
  }
  c.dns_policy.mode = dns_policy == "open" ? intercept::DnsPolicyMode::open : intercept::DnsPolicyMode::allowlist;
  c.dns_policy.refusal = dns_refuse_code == "nxdomain" ? intercept::DnsRcode::nxdomain : intercept::DnsRcode::refused;
  c.dns_timeout = to_ms(dns_timeout);
  c.client_hello_timeout = to_ms(client_hello_timeout);
  c.tunnel_sni_check = tunnel_sni_check == "on";
  c.report_only = policy_mode == "report";
  if (app.count("--budget-bytes") > 0) {
    auto bytes = parse_byte_size(budget_bytes);
    if (!bytes || *bytes == 0) {
      return Error{"--budget-bytes \"" + budget_bytes + "\": expected a positive number of bytes, e.g. 500M"};
    }
    c.budget_bytes = *bytes;
  }
  if (app.count("--allowed-methods") > 0) {
    auto methods = policy::parse_method_list(allowed_methods);
    if (!methods) return methods.error();
    c.allowed_methods = std::move(*methods);
  }
  if (!upstream_proxy.empty()) {
    auto parent = parse_upstream_proxy(upstream_proxy);
    if (!parent) return parent.error();
    c.upstream_proxy = *parent;
  }
  if (!upstream_bypass.empty()) {
    if (!c.upstream_proxy) return Error{"--upstream-bypass needs --upstream-proxy"};
    BypassList bypass = parse_no_proxy(upstream_bypass);
    if (!bypass.skipped.empty()) {
      return Error{"--upstream-bypass entry \"" + bypass.skipped.front().entry + "\": " + bypass.skipped.front().reason};
    }
    c.upstream_bypass = std::move(bypass.domains);
  }
  if (c.ssl_bump_cert.empty() != c.ssl_bump_key.empty()) {
    return Error{c.ssl_bump_cert.empty() ? "--ssl-bump-key needs --ssl-bump-cert (the CA certificate it belongs to)"
                                         : "--ssl-bump-cert needs --ssl-bump-key (the CA's private key)"};
  }
  if (!allow_urls.empty()) {
    if (!c.ssl_bump()) {
      return Error{"--allow-urls requires --ssl-bump-cert and --ssl-bump-key: URLs of HTTPS requests are only "
                   "visible in TLS the proxy terminates"};
    }
    auto patterns = policy::parse_url_patterns(allow_urls);
    if (!patterns) return Error{"--allow-urls: " + patterns.message()};
    c.allow_urls = std::move(*patterns);
  }
  if (!ssl_bump_exclude.empty()) {
    if (!c.ssl_bump()) return Error{"--ssl-bump-exclude needs --ssl-bump-cert"};
    BypassList exclude = parse_no_proxy(ssl_bump_exclude);
    if (!exclude.skipped.empty()) {
      return Error{"--ssl-bump-exclude entry \"" + exclude.skipped.front().entry + "\": " +
                   exclude.skipped.front().reason};
    }
    c.ssl_bump_exclude = std::move(exclude.domains);
  }
  if (!c.ssl_bump_upstream_ca.empty() && !c.ssl_bump()) return Error{"--ssl-bump-upstream-ca needs --ssl-bump-cert"};
  c.dns_tcp_timeout = to_ms(dns_tcp_timeout);
  for (const auto& s : dns_servers) {
    // Only the address is checked here, leniently: dns_upstreams() reads the
    // whole form (brackets, port) with its own message. A bare IPv6 address
    // is all address.
    const HostPort split = split_host_port(s);
    const std::string host(split.has_bare_colons() ? std::string_view(s) : split.host);
    boost::system::error_code ec;
    boost::asio::ip::make_address(host, ec);
    if (ec) return Error{"Invalid DNS servers: Invalid DNS server IP address: " + s};
    c.dns_servers.push_back(s);
  }
  for (const auto& r : private_ranges) {
    auto cidr = parse_cidr(r);
    if (!cidr) return Error{"--allow-private-ranges: " + cidr.message()};
    c.allow_private_ranges.push_back(*cidr);
  }
  c.log_format = log_format == "squid" ? LogFormat::squid : LogFormat::awf;
  c.connect_timeout = to_ms(connect_timeout);
  c.request_timeout = to_ms(request_timeout);
  c.read_timeout = to_ms(read_timeout);
  c.client_lifetime = to_ms(client_lifetime);
  c.shutdown_timeout = to_ms(shutdown_timeout);
  if (c.threads == 0) c.threads = std::max(1u, std::thread::hardware_concurrency());
  if (!c.policy.allow_host_ports.empty() && !c.enable_host_access) {
    return Error{"--allow-host-ports requires --enable-host-access to be set"};
  }
  return out;
}

Result<std::shared_ptr<const policy::Ruleset>> load_policy(const Config& config, std::vector<std::string>* warnings) {
  auto spec = policy::build_spec(config.policy);
  if (!spec) return spec.error();
  return policy::Ruleset::compile(*spec, warnings);
}

}  // namespace awf::proxy
