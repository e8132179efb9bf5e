// The admin listener (--admin-listen): GET /metrics (Prometheus text),
// /healthz and /policy (JSON) over plain HTTP/1.1, one request per
// connection, served by a thread of its own so that a scraper never costs
// an I/O thread anything.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "awf/proxy/config.h"
#include "awf/proxy/context.h"
#include "awf/proxy/metrics.h"
#include "awf/result.h"

namespace awf::proxy {

struct AdminSources {
  const ProxyContext* context = nullptr;
  const Metrics* metrics = nullptr;
  std::function<LiveValues()> live;  // called on the admin thread
};

struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// The answer to one request: pure but for reading the sources.
AdminResponse answer_admin_request(std::string_view method, std::string_view target, const AdminSources& sources);

// /policy's body: the compiled policy's rules and the settings that decide
// with it. Never a credential (--upstream-proxy URLs carry none).
std::string policy_json(const ProxyContext& context, const Metrics& metrics, std::uint64_t generation);

class AdminServer {
 public:
  // Binds and listens (error names the flag and address); serves nothing yet.
  static Result<std::unique_ptr<AdminServer>> open(const ListenAddress& address, AdminSources sources);
  ~AdminServer();  // stop()

  std::string local_address() const;  // "127.0.0.1:9090", the port picked when 0 was asked for
  void start();                       // serves from a thread of its own
  void stop();                        // closes the listener and every connection, joins

  struct Impl;

 private:
  explicit AdminServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace awf::proxy
