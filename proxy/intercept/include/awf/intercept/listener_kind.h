// The kinds of listening socket awf-proxy serves, named as in LISTEN_FDNAMES.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace awf::intercept {

enum class ListenerKind : std::uint8_t {
  forward,         // explicit proxy (HTTP_PROXY), TCP
  http_intercept,  // redirected TCP 80, TCP
  tls_intercept,   // redirected TCP 443, TCP
  dns_udp,         // redirected UDP 53
  dns_tcp,         // redirected TCP 53
  // The API proxy's plain-HTTP listeners, one per LLM provider, TCP.
  api_openai,
  api_anthropic,
  api_copilot,
  api_gemini,
  api_vertex,
  socks,  // SOCKS5 (--listen-socks), TCP; after the others so their byte values stay
};

// "forward", "http-intercept", "tls-intercept", "dns-udp", "dns-tcp",
// "api-openai", "api-anthropic", "api-copilot", "api-gemini", "api-vertex",
// "socks".
const char* to_string(ListenerKind kind);
std::optional<ListenerKind> listener_kind_from_name(std::string_view name);
// Only dns-udp is a datagram socket; the others are listening stream sockets.
inline bool is_datagram(ListenerKind kind) { return kind == ListenerKind::dns_udp; }
// One of the API proxy's listeners.
inline bool is_api(ListenerKind kind) { return kind >= ListenerKind::api_openai && kind <= ListenerKind::api_vertex; }

}  // namespace awf::intercept
