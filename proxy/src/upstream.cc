// The way out to an origin and the peer address text of the logs: see upstream.h.
#include "awf/proxy/upstream.h"

#include "awf/policy/host.h"

namespace awf::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::string peer_address_text(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  }
  return a.to_string();
}

std::string dialled_endpoint_text(const tcp::endpoint& e) {
  return e.address().to_string() + ":" + std::to_string(e.port());
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
