// Names of the listener kinds, as they appear in LISTEN_FDNAMES and logs.
#include "awf/intercept/listener_kind.h"

namespace awf::intercept {

const char* to_string(ListenerKind kind) {
  switch (kind) {
    case ListenerKind::forward: return "forward";
    case ListenerKind::http_intercept: return "http-intercept";
    case ListenerKind::tls_intercept: return "tls-intercept";
    case ListenerKind::dns_udp: return "dns-udp";
    case ListenerKind::dns_tcp: return "dns-tcp";
    case ListenerKind::api_openai: return "api-openai";
    case ListenerKind::api_anthropic: return "api-anthropic";
    case ListenerKind::api_copilot: return "api-copilot";
    case ListenerKind::api_gemini: return "api-gemini";
    case ListenerKind::api_vertex: return "api-vertex";
    case ListenerKind::socks: return "socks";
  }
  return "unknown";
}

std::optional<ListenerKind> listener_kind_from_name(std::string_view name) {
  for (auto kind : {ListenerKind::forward, ListenerKind::http_intercept, ListenerKind::tls_intercept,
                    ListenerKind::dns_udp, ListenerKind::dns_tcp, ListenerKind::api_openai,
                    ListenerKind::api_anthropic, ListenerKind::api_copilot, ListenerKind::api_gemini,
                    ListenerKind::api_vertex, ListenerKind::socks}) {
    if (name == to_string(kind)) return kind;
  }
  return std::nullopt;
}

}  // namespace awf::intercept
