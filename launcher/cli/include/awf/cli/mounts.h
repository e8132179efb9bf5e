// `-v/--mount host:container[:ro|rw]` specs: `${VAR}` and
// `$VAR` expanded from the host environment, then awf's checks and messages.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "awf/cli/environment.h"
#include "awf/result.h"

namespace awf::cli {

struct Mount {
  std::string spec;            // as given on the command line
  std::string host_path;       // after expansion
  std::string container_path;  // as seen inside the sandbox (awf re-roots it under /host itself)
  bool read_only = false;      // no mode: read-write, Docker's default
};

// `${VAR}` / `$VAR` (VAR = [A-Za-z_][A-Za-z0-9_]*) replaced from `env`; an
// unset variable is an error naming it: `Environment variable is not set: ${VAR}`.
Result<std::string> expand_variables(std::string_view text, const Environment& env);

// Validates one spec. The error is the reason only (`Host path cannot be
// empty`, `Mount mode must be either "ro" or "rw"`, ...); callers print
// `Invalid volume mount: <spec>` and `Reason: <reason>` (see mount_error_text).
// `path_exists` is injectable for tests; by default it asks the filesystem.
Result<Mount> parse_mount(std::string_view spec, const Environment& env,
                          const std::function<bool(const std::string&)>& path_exists = {});

// awf's two error lines for a bad spec, each with the `[ERROR] ` prefix.
std::string mount_error_text(std::string_view spec, std::string_view reason);

}  // namespace awf::cli
