// The access-log fields of an HTTP transaction: see transaction_log.h.
#include "awf/proxy/transaction_log.h"

#include <string>

namespace awf::proxy {

void record_request(LogRecord& rec, const RequestHead& req) {
  rec.method = req.method;
  rec.version = req.version_minor == 0 ? "1.0" : "1.1";
  if (const std::string* ua = req.find("user-agent")) rec.user_agent = *ua;
}

void record_destination(LogRecord& rec, const RequestHead& req, std::string_view host, const Target& target,
                        bool is_connect, bool host_with_port) {
  const std::string port = std::to_string(target.port);
  rec.url.clear();
  if (is_connect) {
    rec.url.reserve(host.size() + 1 + port.size());
    rec.url += host;
    rec.url += ':';
    rec.url += port;
  } else {
    const std::size_t query = target.path.find('?');
    const std::string_view path = std::string_view(target.path).substr(0, query);
    rec.url.reserve(7 + host.size() + 1 + port.size() + path.size() + 1);
    rec.url += "http://";
    rec.url += host;
    if (target.port != 80) {
      rec.url += ':';
      rec.url += port;
    }
    rec.url += path;
    if (query != std::string::npos) rec.url += '?';
  }
  if (req.find("host")) {
    // "-" stays when the client sent no Host at all. Intercepted requests
    // too log the name routed to, never a Host header that merely rode along.
    rec.host.clear();
    rec.host += host;
    if (host_with_port) {
      rec.host += ':';
      rec.host += port;
    }
  }
}

bool logged_host_has_port(bool transparent, bool host_had_port, bool is_connect, std::uint16_t port) {
  return transparent ? host_had_port : (is_connect || port != 80);
}

void record_response(LogRecord& rec, const ResponseHead& resp) {
  rec.status = resp.status;
  if (const std::string* ct = resp.find("content-type")) rec.content_type = ct->substr(0, ct->find(';'));
}

void record_end_before_request(LogRecord& rec) {
  rec.url = "error:transaction-end-before-headers";
  rec.host = "-:0";
}

void record_end(LogRecord& rec, std::chrono::steady_clock::time_point started) {
  rec.time = std::chrono::system_clock::now();
  rec.duration =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
}

}  // namespace awf::proxy
