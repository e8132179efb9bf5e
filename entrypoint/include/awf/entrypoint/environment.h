// The command's environment: the incoming one minus awf's exclusion set,
// plus PATH, toolchain variables, identity and git's safe.directory.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "awf/entrypoint/config.h"
#include "awf/entrypoint/identity.h"
#include "awf/entrypoint/path.h"

namespace awf::entrypoint {

// Variables never passed from outside: shell state, sudo's
// leftovers, runner tokens, API keys (the api-proxy holds them), and the
// entrypoint's own AWF_* configuration. The proxy variables are not in it:
// the launcher sets them for the command on purpose.
const std::set<std::string>& excluded_variables();

struct EnvironmentInputs {
  EnvMap incoming;
  Identity identity;
  std::string user_override;  // AWF_CHROOT_IDENTITY_USER
  PathResult path;
  std::string workdir;
  std::set<std::string> exclude, keep;  // --exclude-env, --keep-env
};

EnvMap build_environment(const EnvironmentInputs& in);

// KEY=VALUE strings for execve(2).
std::vector<std::string> to_envp(const EnvMap& env);

}  // namespace awf::entrypoint
