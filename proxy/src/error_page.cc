// The proxy's own error responses and their texts: see error_page.h.
#include "awf/proxy/error_page.h"

namespace awf::proxy {

namespace {

constexpr std::string_view kBodyPrefix = "awf-proxy: ";

// The header a Connection-lists refusal is about; nullptr for other errors.
const char* header_listed_in_connection(HeadError e) {
  switch (e) {
    case HeadError::connection_lists_content_length: return "Content-Length";
    case HeadError::connection_lists_transfer_encoding: return "Transfer-Encoding";
    case HeadError::connection_lists_host: return "Host";
    default: return nullptr;
  }
}

}  // namespace

const char* reason_phrase(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
  }
}

const char* explain_denial(policy::Reason r) {
  switch (r) {
    case policy::Reason::allowed: return "allowed";
    case policy::Reason::not_in_allowlist: return "the host is not in the allowlist (--allow-domains)";
    case policy::Reason::empty_allowlist: return "the allowlist is empty, so all egress is denied";
    case policy::Reason::blocklisted: return "the host matches the blocklist (--block-domains)";
    case policy::Reason::port_not_allowed: return "only ports 80, 443 and --allow-host-ports are allowed";
    case policy::Reason::ip_literal: return "IP address destinations are denied unless that address is allowlisted";
    case policy::Reason::scope_mismatch:
      return "the matching entry allows only the other kind of request (http:// entries: plain HTTP; https:// "
             "entries: CONNECT)";
    case policy::Reason::invalid_host: return "the host name is not valid";
  }
  return "denied";
}

void render_error_page(std::string& out, const ErrorPage& page) {
  const bool add_newline = page.text.empty() || page.text.back() != '\n';
  const std::size_t body_size = kBodyPrefix.size() + page.text.size() + (add_newline ? 1 : 0);
  out.clear();
  // One allocation: the head's fixed text is under 256 bytes.
  out.reserve(256 + std::char_traits<char>::length(page.squid_error) + page.proxy_error.size() + body_size);
  out += "HTTP/1.1 ";
  out += std::to_string(page.status);
  out += ' ';
  out += reason_phrase(page.status);
  out +=
      "\r\nServer: awf-proxy\r\nMime-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Length: ";
  out += std::to_string(body_size);
  out += "\r\nX-Squid-Error: ";
  out += page.squid_error;
  out += " 0\r\n";
  if (page.retry_after > 0) {
    out += "Retry-After: ";
    out += std::to_string(page.retry_after);
    out += "\r\n";
  }
  if (!page.proxy_error.empty()) {
    out += "X-Proxy-Error: ";
    out += page.proxy_error;
    out += "\r\n";
  }
  out += "Connection: ";
  out += page.close_connection ? "close" : "keep-alive";
  out += "\r\n\r\n";
  if (page.head_only) return;
  out += kBodyPrefix;
  out += page.text;
  if (add_newline) out += '\n';
}

std::string denial_text(std::string_view host, std::uint16_t port, policy::Reason reason, const policy::Rule* rule) {
  std::string text;
  text.reserve(256 + 2 * host.size() + (rule ? rule->text.size() : 0));  // one allocation for the usual page
  text += "access to ";
  text += host;
  text += ':';
  text += std::to_string(port);
  text += " denied\nreason: ";
  text += policy::to_string(reason);
  text += " (";
  text += explain_denial(reason);
  text += ")\n";
  if (rule) text += "rule: " + rule->text + "\n";
  switch (reason) {
    case policy::Reason::not_in_allowlist:
    case policy::Reason::empty_allowlist:
    case policy::Reason::scope_mismatch:  // a plain entry covers both kinds of request
      text += "to allow it: --allow-domains ";
      text += host;
      text += '\n';
      break;
    case policy::Reason::blocklisted:
      if (rule) text += "to allow it: remove \"" + rule->text + "\" from --block-domains\n";
      break;
    case policy::Reason::port_not_allowed:
      text += "to allow it: --allow-host-ports " + std::to_string(port) + "\n";
      break;
    case policy::Reason::ip_literal:
      text += "to allow it: use the host name (an IPv4 address may be listed in --allow-domains)\n";
      break;
    case policy::Reason::allowed:
    case policy::Reason::invalid_host: break;
  }
  return text;
}

std::string refused_addresses_text(std::string_view host, std::uint16_t port, std::string_view refused) {
  std::string text = "access to ";
  text += host;
  text += ':';
  text += std::to_string(port);
  text += " denied\nreason: private_address (";
  text += host;
  text += " resolves to ";
  text += refused;
  text += "; allow the range with --allow-private-ranges)\n";
  return text;
}

HeadRefusal refusal_for(HeadError error) {
  if (error == HeadError::too_large) {
    return {431, "ERR_TOO_BIG", "the request head is larger than the proxy accepts"};
  }
  if (error == HeadError::bad_transfer_encoding) return {501, "ERR_UNSUP_REQ", "unsupported Transfer-Encoding"};
  if (const char* header = header_listed_in_connection(error)) {
    return {400, "ERR_INVALID_REQ",
            std::string("malformed request: Connection lists ") + header +
                ", a header the message is framed or routed by (" + to_string(error) + ")"};
  }
  return {400, "ERR_INVALID_REQ", std::string("malformed request: ") + to_string(error)};
}

}  // namespace awf::proxy
