// `awf policy check`: answers "would this request be allowed, and why?" for
// each target, from the same flags and files awf reads.
#pragma once

#include <CLI/App.hpp>

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "awf/policy/sources.h"
#include "awf/result.h"

namespace awf::launcher {

struct PolicyCheckOptions {
  policy::PolicyFlags flags;
  std::string config_file;  // --config: awf's config file, its network/security part
  bool enable_host_access = false;
  std::string method;  // empty: from each target's form
  std::vector<std::string> targets;
};

// One request to decide, as the proxy would see it.
struct CheckTarget {
  std::string method;  // "CONNECT", "GET", ...
  std::string host;    // as written (brackets kept for IPv6)
  std::uint16_t port = 443;
  bool is_connect = true;
};

// `host:port` or `host` (CONNECT, port 443), `https://...` (CONNECT to the
// URL's authority), `http://...` (GET). With an explicit method, CONNECT takes
// an authority or a URL and other methods take an absolute URL.
Result<CheckTarget> parse_target(std::string_view text, const std::string& method);

// Declares the subcommand's flags on `cmd`, filling `options` when parsed.
void add_policy_check_flags(CLI::App& cmd, PolicyCheckOptions& options);

// Runs the check: one `ALLOW|DENY <method> <target> <reason> <rule>` line per
// target on `out`; warnings and errors on `err`. Returns 0 if every target is
// allowed, 1 if any is denied, 2 on invalid input.
int run_policy_check(const PolicyCheckOptions& options, std::ostream& out, std::ostream& err);

}  // namespace awf::launcher
