// DNS server list parsing and auto-detection from resolv.conf files.
#include "awf/cli/dns.h"

#include <arpa/inet.h>

#include <fstream>
#include <sstream>

namespace awf::cli {

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

bool is_ip(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}
}  // namespace

Result<std::vector<std::string>> parse_dns_servers(std::string_view list) {
  std::vector<std::string> out;
  while (true) {
    auto comma = list.find(',');
    std::string item(trim(list.substr(0, comma)));
    if (!item.empty()) {
      if (!is_ip(item)) return Error{"Invalid DNS server IP address: " + item};
      out.push_back(item);
    }
    if (comma == std::string_view::npos) break;
    list = list.substr(comma + 1);
  }
  if (out.empty()) return Error{"At least one DNS server must be specified"};
  return out;
}

std::vector<std::string> parse_resolv_conf(std::string_view text) {
  std::vector<std::string> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string keyword, address;
    if (!(words >> keyword) || keyword != "nameserver" || !(words >> address)) continue;
    // Scoped IPv6 (`fe80::1%eth0`) keeps only the address.
    address = address.substr(0, address.find('%'));
    if (is_ip(address)) out.push_back(address);
  }
  return out;
}

bool is_loopback_address(std::string_view ip) {
  std::string s(ip);
  unsigned char v4[4];
  if (inet_pton(AF_INET, s.c_str(), v4) == 1) return v4[0] == 127;
  unsigned char v6[16];
  if (inet_pton(AF_INET6, s.c_str(), v6) == 1) {
    for (int i = 0; i < 15; ++i) {
      if (v6[i] != 0) return false;
    }
    return v6[15] == 1;
  }
  return false;
}

DetectedDns detect_dns_servers(const std::vector<std::string>& resolv_conf_paths) {
  DetectedDns d;
  for (const auto& path : resolv_conf_paths) {
    std::ifstream in(path);
    if (!in) continue;
    std::ostringstream ss;
    ss << in.rdbuf();
    std::vector<std::string> usable;
    for (auto& s : parse_resolv_conf(ss.str())) {
      if (!is_loopback_address(s)) usable.push_back(s);
    }
    if (!usable.empty()) {
      d.message = "Auto-detected DNS servers from " + path + ": " + join(usable);
      d.servers = std::move(usable);
      return d;
    }
  }
  d.servers = default_dns_servers();
  d.fell_back = true;
  d.message = "Could not detect host DNS servers; falling back to " + join(d.servers);
  return d;
}

}  // namespace awf::cli
