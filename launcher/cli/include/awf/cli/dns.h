// `--dns-servers` validation and host resolver auto-detection.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "awf/result.h"

namespace awf::cli {

// A comma list of IPv4/IPv6 literals (trimmed, empties dropped). Errors,
// without awf's `Invalid DNS servers: ` prefix:
// `Invalid DNS server IP address: X`, `At least one DNS server must be specified`.
Result<std::vector<std::string>> parse_dns_servers(std::string_view list);

// `nameserver` lines of resolv.conf text, in order (invalid addresses skipped).
std::vector<std::string> parse_resolv_conf(std::string_view text);

bool is_loopback_address(std::string_view ip);  // 127.0.0.0/8, ::1

inline const std::vector<std::string>& default_dns_servers() {
  static const std::vector<std::string> kDefault = {"8.8.8.8", "8.8.4.4"};
  return kDefault;
}

inline const std::vector<std::string>& default_resolv_conf_paths() {
  static const std::vector<std::string> kPaths = {"/run/systemd/resolve/resolv.conf", "/etc/resolv.conf"};
  return kPaths;
}

struct DetectedDns {
  std::vector<std::string> servers;
  std::string message;   // `Auto-detected DNS servers from <file>: a, b` (info)
  bool fell_back = false;  // then `message` is the warning
                           // `Could not detect host DNS servers; falling back to 8.8.8.8, 8.8.4.4`
};

// The first file (in order) that lists a non-loopback nameserver gives all
// its non-loopback nameservers; loopback stubs (systemd-resolved's
// 127.0.0.53) are unreachable from the sandbox, so they are skipped.
DetectedDns detect_dns_servers(const std::vector<std::string>& resolv_conf_paths = default_resolv_conf_paths());

}  // namespace awf::cli
