// awf-proxy's configuration: command-line flags and the YAML file given with
// --config (same keys as the long flags), validated up front with messages
// that name the flag or key and the allowed form.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "awf/api/provider.h"
#include "awf/intercept/dns_filter.h"
#include "awf/policy/methods.h"
#include "awf/policy/ruleset.h"
#include "awf/policy/sources.h"
#include "awf/policy/url_pattern.h"
#include "awf/proxy/access_log.h"
#include "awf/proxy/address_guard.h"
#include "awf/result.h"
#include "awf/upstream_proxy.h"

namespace awf::proxy {

struct ListenAddress {
  std::string host;  // "127.0.0.1", "::1" (no brackets)
  std::uint16_t port = 0;
  std::string text() const;  // "127.0.0.1:3128", "[::1]:3128"
};
Result<ListenAddress> parse_listen_address(std::string_view text);

// The API proxy's flags (docs/api-proxy.md). Provider settings come from
// awf-proxy's environment, with awf's variable names; these flags name
// listeners and, for standalone use, override a provider's key, host or
// base path without putting a secret on the command line.
struct ApiListen {
  api::Provider provider = api::Provider::openai;
  ListenAddress address;
};
struct ApiKeySource {
  api::Provider provider = api::Provider::openai;
  enum class From { env, file } from = From::env;
  std::string where;  // the variable's name or the file's path
};
struct ApiOverride {
  api::Provider provider = api::Provider::openai;
  std::string value;  // --api-target: a host name; --api-base-path: normalised ("" or "/a/b")
};

struct Config {
  std::vector<ListenAddress> listen;
  bool listen_is_default = false;  // `listen` holds only the implicit 127.0.0.1:3128
  // Interception front ends bound by the proxy itself (tests, standalone
  // use); listeners handed over by socket activation come on top.
  std::vector<ListenAddress> listen_http_intercept;
  std::vector<ListenAddress> listen_tls_intercept;
  std::vector<ListenAddress> listen_dns;  // UDP and TCP on the same address and port
  std::vector<ListenAddress> listen_socks;  // SOCKS5 front end (socks_session.h)
  intercept::DnsPolicy dns_policy;        // --dns-policy, --dns-refuse-code
  std::chrono::milliseconds dns_timeout{2'000};          // one upstream exchange
  // DNS over TCP: each query (length prefix and message) must arrive whole
  // within this much time of its first byte, and each answer be taken.
  std::chrono::milliseconds dns_tcp_timeout{5'000};
  std::size_t dns_tcp_max_connections = 0;  // 0: a quarter of max_connections, at least 1
  std::chrono::milliseconds client_hello_timeout{10'000};  // tls-intercept, tunnel SNI check: the whole ClientHello
  // --tunnel-sni-check: a CONNECT tunnel to port 443 must open with a TLS
  // ClientHello whose server name the policy allows; off relays raw bytes.
  bool tunnel_sni_check = true;
  // --policy-mode report: what the domain policy would refuse (allow and
  // block lists, ports, IP literals, the tunnel's ClientHello name, DNS
  // names) goes through and is logged with the reason ("would_deny" in
  // audit.jsonl). The SSRF guard, --enable-dlp and the protocol checks
  // still refuse.
  bool report_only = false;
  // --allowed-methods: the only HTTP methods a request may use (a
  // read-only agent: GET,HEAD,OPTIONS), checked where the proxy sees the
  // method: plain HTTP and bumped HTTPS. Then a tunnel it cannot look into
  // (CONNECT, transparent TLS or SOCKS to a name not bumped, a WebSocket
  // upgrade) is refused too, unless CONNECT is in the list. Empty: any.
  std::vector<std::string> allowed_methods;
  // --budget-rps, --budget-tunnels, --budget-bytes: what may be spent per
  // registrable domain (budgets.h); zero: no limit.
  double budget_rps = 0;
  std::size_t budget_tunnels = 0;
  std::uint64_t budget_bytes = 0;
  bool raw_tunnels_allowed() const {
    return allowed_methods.empty() ||
           std::find(allowed_methods.begin(), allowed_methods.end(), "CONNECT") != allowed_methods.end();
  }
  // --enable-dlp: URLs the proxy can read (plain HTTP, CONNECT authorities)
  // are refused when they carry a credential shape (policy/dlp.h).
  bool enable_dlp = false;
  // --upstream-proxy: every allowed request goes out through this parent
  // HTTP proxy (CONNECT for tunnels and TLS, absolute form for plain HTTP),
  // except those for names under --upstream-bypass. The parent resolves
  // and connects, so the SSRF guard does not apply to those requests.
  std::optional<UpstreamProxy> upstream_proxy;
  std::vector<std::string> upstream_bypass;  // domain suffixes, canonical
  // --ssl-bump-cert, --ssl-bump-key: the CA (PEM) that signs the
  // certificates minted for TLS the proxy terminates (docs/ssl-bump.md);
  // both or neither. Read and checked at start-up (bump_authority.h).
  std::string ssl_bump_cert;
  std::string ssl_bump_key;
  // --ssl-bump-upstream-ca: PEM trusted for origins of bumped connections
  // besides the system store.
  std::string ssl_bump_upstream_ca;
  // --ssl-bump-exclude: names (and the names under them) spliced, never
  // bumped. Canonical domain suffixes.
  std::vector<std::string> ssl_bump_exclude;
  // --allow-urls: with it, a bumped request must match one pattern.
  std::vector<policy::UrlPattern> allow_urls;
  bool ssl_bump() const { return !ssl_bump_cert.empty(); }
  // --netns PATH: the listeners the flags ask for are created inside this
  // network namespace (/proc/PID/ns/net, /run/netns/NAME); the proxy's own
  // connections and lookups stay in the namespace it was started in.
  std::string netns;
  std::optional<ListenAddress> health_check;  // --health-check: probe this forward listener and exit
  // --admin-listen: /metrics, /healthz and /policy over plain HTTP (admin.h).
  // Bound in the proxy's own network namespace, never inside --netns: the
  // agent must not read or reach it. Loopback only unless
  // --admin-allow-non-loopback.
  std::optional<ListenAddress> admin_listen;
  bool admin_allow_non_loopback = false;
  std::vector<ApiListen> api_listen;           // --api-listen PROVIDER=ADDR:PORT
  std::vector<ApiKeySource> api_keys;          // --api-key, in order (a later one wins)
  std::vector<ApiOverride> api_targets;        // --api-target
  std::vector<ApiOverride> api_base_paths;     // --api-base-path
  std::string api_ca_cert;                     // --api-ca-cert: trusted besides the system store
  policy::PolicyFlags policy;
  bool enable_host_access = false;
  std::vector<std::string> dns_servers;
  std::string hosts_file;
  std::vector<Cidr> allow_private_ranges;
  std::string log_dir;
  LogFormat log_format = LogFormat::awf;
  std::string log_level = "info";
  unsigned threads = 0;  // 0: one per core
  // Squid's values in awf's squid.conf.
  std::chrono::milliseconds connect_timeout{30'000};
  std::chrono::milliseconds request_timeout{120'000};
  std::chrono::milliseconds read_timeout{1'800'000};
  std::chrono::milliseconds client_lifetime{8 * 3'600'000};
  std::chrono::milliseconds shutdown_timeout{5'000};
  std::size_t max_header_bytes = 64 * 1024;
  std::size_t max_connections = 0;  // 0: derived from RLIMIT_NOFILE
  std::string config_file;
};

struct CommandLine {
  Config config;
  std::optional<int> exit_code;  // --help / --version: print `output` and exit
  std::string output;
};

// Parses argv (and the --config file it names). Errors are one line naming
// the flag or key.
Result<CommandLine> parse_command_line(int argc, const char* const* argv);

// Reads the policy files named by the config and compiles the ruleset.
// Warnings for inert or very broad entries are appended to `warnings`.
Result<std::shared_ptr<const policy::Ruleset>> load_policy(const Config& config, std::vector<std::string>* warnings);

const char* proxy_version();

}  // namespace awf::proxy
