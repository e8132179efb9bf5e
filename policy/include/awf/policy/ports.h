// Port specs of `--allow-host-ports` (tests/port-spec-fixtures):
// `N` or `START-END`, with awf's messages, and the dangerous-port refusals.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "awf/result.h"

namespace awf::policy {

struct PortRange {
  std::uint16_t first = 0;
  std::uint16_t last = 0;
  bool contains(std::uint16_t port) const { return port >= first && port <= last; }
};

// One spec: `80`, `3000-3010`. Rejects leading zeros, spaces, signs, decimals,
// reversed ranges, 0 and > 65535 with awf's messages
// (`Invalid port: X. Must be a number between 1 and 65535`, ...), and ranges
// that are or include a dangerous port (`Port 22 is blocked for security reasons. ...`).
Result<PortRange> parse_port_spec(std::string_view spec);

// A comma-separated list of specs (the flag's value).
Result<std::vector<PortRange>> parse_port_list(std::string_view list);

// The 21 ports awf's Squid validator refuses (22 23 25 110 143 445 1433 1521
// 3306 3389 5432 5984 6379 6984 8086 8088 9200 9300 27017 27018 28017).
bool is_dangerous_port(std::uint16_t port);

}  // namespace awf::policy
