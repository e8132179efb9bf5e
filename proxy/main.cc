// awf-proxy: parse the configuration, build the server, run it, map the
// outcome to an exit code (0 after a SIGTERM drain, 1 on a startup error).
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <string>
#include <vector>

#include "awf/proxy/config.h"
#include "awf/proxy/health_check.h"
#include "awf/proxy/server.h"
#include "awf/startup_trace.h"

int main(int argc, char** argv) {
  awf::startup_trace::mark("main");
  auto cl = awf::proxy::parse_command_line(argc, argv);
  if (!cl) {
    std::fprintf(stderr, "awf-proxy: error: %s\n", cl.message().c_str());
    return 1;
  }
  if (cl->exit_code) {
    std::fputs(cl->output.c_str(), stdout);
    return *cl->exit_code;
  }
  if (cl->config.health_check) {
    // A probe, not a proxy: exit 0 when the listener answers, 1 otherwise.
    auto healthy = awf::proxy::probe_health(*cl->config.health_check, std::chrono::seconds(5));
    if (!healthy) {
      std::fprintf(stderr, "awf-proxy: unhealthy: %s\n", healthy.message().c_str());
      return 1;
    }
    return 0;
  }
  auto logger = spdlog::stderr_logger_mt("awf-proxy");
  logger->set_pattern("awf-proxy: %l: %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(cl->config.log_level));
  spdlog::flush_on(spdlog::level::trace);

  awf::startup_trace::mark("options parsed");
  std::vector<std::string> args(argv, argv + argc);
  auto server = awf::proxy::Server::create(std::move(cl->config), std::move(args));
  if (!server) {
    std::fprintf(stderr, "awf-proxy: error: %s\n", server.message().c_str());
    return 1;
  }
  awf::startup_trace::mark("server created");
  const int code = (*server)->run();
  awf::startup_trace::mark("stopped");
  return code;
}
