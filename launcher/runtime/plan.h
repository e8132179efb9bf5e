// What each process of a run executes, worked out from the configuration
// before any process exists: awf-proxy's argv and environment,
// awf-entrypoint's argv and the agent's environment.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "awf/result.h"
#include "awf/runtime/nft_ruleset.h"
#include "awf/runtime/runtime.h"

namespace awf::runtime {

struct Plan {
  RulesetSpec ruleset;
  bool user_namespace = false;
  std::string proxy_path;
  std::vector<std::string> proxy_argv;
  std::vector<std::string> proxy_env;  // awf's environment with RuntimeConfig::proxy_env on top
  std::string entrypoint_path;
  std::vector<std::string> agent_argv;
  std::vector<std::string> agent_env;
  std::filesystem::path log_dir;
  bool logs_dir_given = false;
};

// awf-proxy's part of a plan (ruleset, program, argv, environment, log
// directory): what both a run and `awf attach` start. Fails when awf-proxy
// cannot be run or --allow-host-ports does not parse.
Status plan_proxy(const RuntimeConfig& config, const std::filesystem::path& log_dir, Plan& plan);

// plan_proxy, then the agent's part. Fails when a program cannot be run, no command was given, or
// --allow-host-ports does not parse. `private_tmp` empty: the host's /tmp.
Result<Plan> make_plan(const RuntimeConfig& config, const std::filesystem::path& log_dir,
                       const std::filesystem::path& private_tmp);

// argv/envp for execve: pointers into `items`, null-terminated.
std::vector<char*> c_strings(std::vector<std::string>& items);

}  // namespace awf::runtime
