// The sample access-log record the format tests start from: the allowed
// CONNECT tunnel of awf's documented example line, which the tests spell
// out field by field. A test changes the fields it is about.
#pragma once

#include <chrono>

#include "awf/proxy/access_log.h"

namespace awf::proxy_test {

inline proxy::LogRecord tunnel_record() {
  proxy::LogRecord r;
  r.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1761074374646));
  r.duration = std::chrono::milliseconds(1234);
  r.client_ip = "172.30.0.20";
  r.client_port = 39748;
  r.host = "api.github.com:443";
  r.dest = "140.82.114.22:443";
  r.method = "CONNECT";
  r.status = 200;
  r.code = proxy::ResultCode::tcp_tunnel;
  r.hierarchy = proxy::Hierarchy::direct;
  r.url = "api.github.com:443";
  r.bytes_to_client = 4567;
  return r;
}

}  // namespace awf::proxy_test
