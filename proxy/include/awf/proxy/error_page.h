// The responses awf-proxy writes itself instead of an origin's: refused
// request heads, policy and SSRF denials, unreachable origins. Squid's status
// codes and X-Squid-Error names, so awf's tooling reads them the same way, and
// a short plain-text body that tells the user what happened and what to
// change.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "awf/policy/ruleset.h"
#include "awf/proxy/http_head.h"

namespace awf::proxy {

// The reason phrase of a status the proxy answers with ("Bad Request", ...).
const char* reason_phrase(int status);

// One sentence on what a policy reason means and which flag governs it.
const char* explain_denial(policy::Reason reason);

struct ErrorPage {
  int status = 0;
  std::string_view text;        // the body, without "awf-proxy: " and the final newline (both added)
  const char* squid_error = "";  // X-Squid-Error, e.g. "ERR_ACCESS_DENIED"
  int retry_after = 0;             // Retry-After in seconds; none when 0
  std::string_view proxy_error{};  // X-Proxy-Error, the refusal's reason code; none when empty
  bool close_connection = true;  // "Connection: close", else keep-alive
  bool head_only = false;        // the request was HEAD: no body, Content-Length still its size
};

// Writes the whole response (head and body) into `out`, replacing what it
// held; reusing the caller's buffer keeps its capacity.
void render_error_page(std::string& out, const ErrorPage& page);

// The text of a 403 for a host policy denied: the host, the reason and what
// it means, the rule that decided, when one did (`rule` may be null), and
// what would allow the request, where a flag can.
std::string denial_text(std::string_view host, std::uint16_t port, policy::Reason reason, const policy::Rule* rule);

// The text of a 403 for a host that resolves only to addresses the SSRF
// guard refuses; `refused` lists them as "class address, ...".
std::string refused_addresses_text(std::string_view host, std::uint16_t port, std::string_view refused);

// The answer to a request head the parser refused: its status, Squid error
// and text (the parser's error named in it).
struct HeadRefusal {
  int status = 400;
  const char* squid_error = "ERR_INVALID_REQ";
  std::string text;
};
HeadRefusal refusal_for(HeadError error);

}  // namespace awf::proxy
