// The way out to an origin and the peer address text of the logs: see upstream.h.
#include "awf/proxy/upstream.h"

#include <charconv>

#include "awf/policy/host.h"

namespace awf::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// Dotted-quad text of an IPv4 address. Every accepted connection and every
// dial needs one for its log line; Asio's to_string goes through inet_ntop,
// which formats with sprintf and costs more than the rest of a denied
// request's bookkeeping.
void append_v4(std::string& out, const asio::ip::address_v4& a) {
  const asio::ip::address_v4::bytes_type b = a.to_bytes();
  char buf[16];
  char* p = buf;
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i) *p++ = '.';
    p = std::to_chars(p, buf + sizeof buf, static_cast<unsigned>(b[i])).ptr;
  }
  out.append(buf, static_cast<std::size_t>(p - buf));
}

void append_address(std::string& out, const asio::ip::address& a) {
  if (a.is_v4()) return append_v4(out, a.to_v4());
  out += a.to_string();
}

}  // namespace

std::string peer_address_text(const asio::ip::address& a) {
  std::string out;
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    append_v4(out, asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()));
  } else {
    append_address(out, a);
  }
  return out;
}

std::string dialled_endpoint_text(const tcp::endpoint& e) {
  std::string out;
  append_address(out, e.address());
  out += ':';
  char port[8];
  out.append(port, static_cast<std::size_t>(std::to_chars(port, port + sizeof port, e.port()).ptr - port));
  return out;
}

bool is_host_gateway(const Config& config, std::string_view host) {
  // Its private address is the point of --enable-host-access, not an attack.
  return config.enable_host_access && host == "host.docker.internal";
}

std::string admit_addresses(const AddressGuard& guard, bool host_gateway, const Resolution& r, std::uint16_t port,
                            std::vector<tcp::endpoint>& candidates) {
  std::string refused;
  for (const auto& a : r.addresses) {
    if (host_gateway || guard.permits(a)) {
      candidates.emplace_back(a, port);
    } else {
      if (!refused.empty()) refused += ", ";
      refused += std::string(to_string(guard.classify(a))) + " " + a.to_string();
    }
  }
  return refused;
}

std::optional<Resolution> resolve_ip_literal(const std::string& host) {
  std::optional<policy::IpAddress> ip = policy::parse_ip_literal(host);
  if (!ip) return std::nullopt;
  std::string text = ip->canonical;
  if (!text.empty() && text.front() == '[') text = text.substr(1, text.size() - 2);
  boost::system::error_code ec;
  auto a = asio::ip::make_address(text, ec);
  Resolution r;
  if (ec) r.error = "cannot use address " + ip->canonical;
  else r.addresses.push_back(a);
  return r;
}

DialOutcome UpstreamDial::admit(const Resolution& r, std::vector<tcp::endpoint>& candidates) const {
  DialOutcome out;
  if (r.addresses.empty()) {
    out.failure = DialFailure::unresolved;
    out.detail = r.error;
    return out;
  }
  out.detail = admit_addresses(*guard_, host_gateway_, r, port_, candidates);
  if (candidates.empty()) out.failure = DialFailure::refused_only;
  else out.detail.clear();
  return out;
}

DialOutcome UpstreamDial::connected(Connector::Outcome o) {
  DialOutcome out;
  out.dest = dialled_endpoint_text(o.endpoint);
  if (o.error) {
    out.failure = DialFailure::connect_failed;
    out.detail = std::move(o.detail);
    out.error = o.error;
    return out;
  }
  out.socket.emplace(std::move(o.socket));
  return out;
}

}  // namespace awf::proxy
