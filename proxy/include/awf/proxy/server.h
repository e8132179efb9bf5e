// The awf-proxy process: binds every listener (one SO_REUSEPORT acceptor
// per I/O thread), runs the I/O threads, and handles the signals (SIGHUP
// reloads the policy, SIGUSR1 reopens logs, SIGTERM/SIGINT drain and exit 0).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "awf/proxy/config.h"
#include "awf/result.h"

namespace awf::proxy {

class Server {
 public:
  // Compiles the policy, opens the logs, starts the resolver and binds
  // every listener. `argv` is kept to re-read the configuration on SIGHUP.
  static Result<std::unique_ptr<Server>> create(Config config, std::vector<std::string> argv);
  ~Server();

  // "127.0.0.1:41234" for each bound listener, ports resolved.
  std::vector<std::string> bound_addresses() const;

  // Announces the listeners and `ready` on stderr, runs until SIGTERM or
  // SIGINT, drains, flushes the logs. Returns the exit code.
  int run();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace awf::proxy
