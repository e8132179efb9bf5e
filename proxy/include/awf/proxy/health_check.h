// awf-proxy --health-check ADDR:PORT: a blocking probe of a running proxy's
// forward listener, for container HEALTHCHECKs and scripts.
#pragma once

#include <chrono>

#include "awf/proxy/config.h"
#include "awf/result.h"

namespace awf::proxy {

// Connects, sends the health request (kHealthCheckPath, which the proxy
// answers itself and does not log) and expects 200, all within `timeout`.
// The error says which step failed.
Status probe_health(const ListenAddress& target, std::chrono::milliseconds timeout);

}  // namespace awf::proxy
