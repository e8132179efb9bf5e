// `awf policy check`: builds the policy from awf's flags, files and config
// exactly as the proxy will, then decides each target and explains the answer.
#include "policy_check.h"

#include <algorithm>
#include <cctype>
#include <ostream>

#include "awf/host_port.h"
#include "awf/policy/ruleset.h"

namespace awf::launcher {
namespace {

constexpr int kAllAllowed = 0;
constexpr int kSomeDenied = 1;
constexpr int kInvalidInput = 2;

Error bad_target(std::string_view text, const std::string& why) {
  return Error{"Invalid target '" + std::string(text) + "': " + why};
}

// Splits `host[:port]` / `[v6][:port]`; `default_port` when none is given.
Result<CheckTarget> parse_authority(std::string_view whole, std::string_view authority,
                                    std::uint16_t default_port) {
  const HostPort split = split_host_port(authority);
  switch (split.fault) {
    case HostPort::Fault::unclosed_bracket: return bad_target(whole, "unclosed '[' in an IPv6 address");
    case HostPort::Fault::text_after_bracket: return bad_target(whole, "expected ':<port>' after ']'");
    case HostPort::Fault::none: break;
  }
  if (split.has_bare_colons()) return bad_target(whole, "an IPv6 address must be in brackets, e.g. [::1]:443");
  CheckTarget t;
  t.host = std::string(split.host_as_written);
  if (t.host.empty()) return bad_target(whole, "no host");
  t.port = default_port;
  if (!split.port_text.empty()) {
    // As in a URL, leading zeros do not count: `:00443` is port 443.
    std::string_view digits = split.port_text;
    while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
    const std::optional<std::uint16_t> port = parse_port(digits);
    if (!port) return bad_target(whole, "the port must be a number between 0 and 65535");
    t.port = *port;
  }
  return t;
}

// `scheme://[userinfo@]authority[/path][?query][#fragment]`; the userinfo is
// dropped (`http://allowed.com@evil.com/` goes to evil.com, as every client
// sends it).
Result<CheckTarget> parse_url(std::string_view text, std::uint16_t default_port, std::size_t scheme_len) {
  std::string_view rest = text.substr(scheme_len);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  const auto at = authority.rfind('@');
  if (at != std::string_view::npos) authority.remove_prefix(at + 1);
  return parse_authority(text, authority, default_port);
}

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && upper(s.substr(0, prefix.size())) == upper(prefix);
}

}  // namespace

Result<CheckTarget> parse_target(std::string_view text, const std::string& method_flag) {
  const std::string method = upper(method_flag);
  // An HTTP method is a token; letters cover every method a proxy sees.
  if (std::any_of(method.begin(), method.end(), [](char c) { return c < 'A' || c > 'Z'; })) {
    return Error{"Invalid --method '" + method_flag + "': expected a method such as CONNECT, GET or POST"};
  }
  const bool is_http = starts_with_ci(text, "http://");
  const bool is_https = starts_with_ci(text, "https://");
  if (text.empty()) return bad_target(text, "empty");
  if (const auto scheme_end = text.find("://"); !is_http && !is_https && scheme_end != std::string_view::npos) {
    return bad_target(text, "unsupported scheme '" + std::string(text.substr(0, scheme_end)) +
                                "' (only http:// and https:// URLs can be checked)");
  }
  Result<CheckTarget> target = Error{};
  std::string chosen;
  if (method.empty() || method == "CONNECT") {
    // Without --method a URL says what a client would do: https:// is a
    // CONNECT tunnel, http:// a proxied GET.
    if (is_http && method.empty()) {
      chosen = "GET";
      target = parse_url(text, 80, 7);
    } else if (is_http || is_https) {
      chosen = "CONNECT";
      target = parse_url(text, is_http ? 80 : 443, is_http ? 7 : 8);
    } else {
      chosen = "CONNECT";
      target = parse_authority(text, text, 443);
    }
  } else {
    if (!is_http && !is_https) {
      return bad_target(text, method + " needs an absolute URL (http://host[:port]/path)");
    }
    chosen = method;
    target = parse_url(text, is_http ? 80 : 443, is_http ? 7 : 8);
  }
  if (!target) return target;
  target->method = chosen;
  target->is_connect = chosen == "CONNECT";
  return target;
}

void add_policy_check_flags(CLI::App& cmd, PolicyCheckOptions& o) {
  // List flags take one value per occurrence (`-d a.com -d b.com`), so they
  // never swallow the targets that follow them.
  cmd.add_option("-d,--allow-domains", o.flags.allow_domains,
                 "Allowlist entries, comma-separated (repeatable)")
      ->allow_extra_args(false);
  cmd.add_option("--block-domains", o.flags.block_domains,
                 "Blocklist entries, comma-separated (repeatable); beats the allowlist")
      ->allow_extra_args(false);
  cmd.add_option("--allow-domains-file", o.flags.allow_domains_files,
                 "File of allowlist entries: one per line or comma-separated, '#' comments")
      ->allow_extra_args(false);
  cmd.add_option("--block-domains-file", o.flags.block_domains_files, "File of blocklist entries")
      ->allow_extra_args(false);
  cmd.add_option("--ruleset-file", o.flags.ruleset_files,
                 "YAML ruleset {version: 1, rules: [{domain: ...}]} (repeatable)")
      ->allow_extra_args(false);
  cmd.add_option("--config", o.config_file,
                 "awf config file (JSON or YAML); its network/security settings apply unless the same "
                 "flag is given");
  cmd.add_option("--allow-host-ports", o.flags.allow_host_ports,
                 "Extra reachable ports or ranges besides 80 and 443 (needs --enable-host-access)");
  cmd.add_flag("--enable-host-access", o.enable_host_access, "Required by --allow-host-ports, as in awf");
  cmd.add_option("--method", o.method,
                 "Request method for every target. Without it: https://URL and host[:port] are "
                 "CONNECT (port 443 by default), http://URL is GET. With CONNECT a target is "
                 "host[:port] or a URL; other methods need an absolute http:// or https:// URL");
  cmd.add_option("targets", o.targets, "Targets: host[:port] for CONNECT, or absolute URLs")->required();
}

int run_policy_check(const PolicyCheckOptions& options, std::ostream& out, std::ostream& err) {
  policy::PolicyFlags flags = options.flags;
  bool host_access = options.enable_host_access;
  if (!options.config_file.empty()) {
    auto cfg = policy::read_awf_config(options.config_file);
    if (!cfg) {
      err << "[ERROR] Error loading --config: " << cfg.message() << "\n";
      return kInvalidInput;
    }
    // awf's precedence: a config value applies only where the flag was not
    // given, and replaces rather than merges.
    if (flags.allow_domains.empty() && cfg->allow_domains) flags.allow_domains = *cfg->allow_domains;
    if (flags.block_domains.empty() && cfg->block_domains) flags.block_domains = *cfg->block_domains;
    if (flags.allow_host_ports.empty() && cfg->allow_host_ports) flags.allow_host_ports = *cfg->allow_host_ports;
    if (!host_access && cfg->enable_host_access) host_access = *cfg->enable_host_access;
  }
  if (!flags.allow_host_ports.empty() && !host_access) {
    err << "[ERROR] --allow-host-ports requires --enable-host-access to be set\n";
    return kInvalidInput;
  }
  std::vector<std::string> warnings;
  auto spec = policy::build_spec(flags, &warnings);
  if (!spec) {
    err << "[ERROR] " << spec.message() << "\n";
    return kInvalidInput;
  }
  auto ruleset = policy::Ruleset::compile(*spec, &warnings);
  if (!ruleset) {
    err << "[ERROR] " << ruleset.message() << "\n";
    return kInvalidInput;
  }
  for (const auto& w : warnings) err << "[WARN] " << w << "\n";

  // Parse every target before answering any, so a typo does not leave a
  // half-printed table behind.
  std::vector<CheckTarget> targets;
  for (const auto& text : options.targets) {
    auto t = parse_target(text, options.method);
    if (!t) {
      err << "[ERROR] " << t.message() << "\n";
      return kInvalidInput;
    }
    targets.push_back(*t);
  }
  int status = kAllAllowed;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const CheckTarget& t = targets[i];
    const policy::Decision d = (*ruleset)->decide(policy::Request{t.host, t.port, t.is_connect});
    const policy::Rule* rule = (*ruleset)->rule(d);
    out << (d.allowed ? "ALLOW " : "DENY ") << t.method << ' ' << options.targets[i] << ' '
        << policy::to_string(d.reason) << ' ' << (rule ? rule->text : "-") << '\n';
    if (!d.allowed) status = kSomeDenied;
  }
  return status;
}

}  // namespace awf::launcher
