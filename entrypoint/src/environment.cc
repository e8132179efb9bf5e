// Builds the command's environment from the incoming one.
#include "awf/entrypoint/environment.h"

#include <charconv>
#include <fmt/format.h>

namespace awf::entrypoint {

const std::set<std::string>& excluded_variables() {
  static const std::set<std::string> names = {
      // Shell and sudo state: meaningless or misleading inside.
      "PATH", "PWD", "OLDPWD", "SHLVL", "_", "SUDO_COMMAND", "SUDO_USER", "SUDO_UID", "SUDO_GID",
      // Runner tokens.
      "ACTIONS_RUNTIME_TOKEN", "ACTIONS_RESULTS_URL", "ACTIONS_ID_TOKEN_REQUEST_URL",
      "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
      // API keys and GitHub tokens: the api-proxy holds them, never the agent.
      "OPENAI_API_KEY", "OPENAI_KEY", "CODEX_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN",
      "CLAUDE_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "COPILOT_GITHUB_TOKEN", "COPILOT_PROVIDER_API_KEY",
      "GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL", "GEMINI_API_BASE_URL",
      "GOOGLE_VERTEX_BASE_URL", "GITHUB_TOKEN", "GH_TOKEN", "GITHUB_PERSONAL_ACCESS_TOKEN", "GITHUB_API_TOKEN",
      "GITHUB_PAT", "GH_ACCESS_TOKEN", "OPENAI_ENDPOINT_OVERRIDE",
      // The entrypoint's own configuration.
      "AWF_CHROOT_ENABLED", "AWF_USER_UID", "AWF_USER_GID", "AWF_WORKDIR", "AWF_HOST_PATH", "AWF_GOROOT",
      "AWF_JAVA_HOME", "AWF_CARGO_HOME", "AWF_RUSTUP_HOME", "AWF_DOTNET_ROOT", "AWF_BUN_INSTALL",
      "AWF_DNS_SERVERS", "AWF_COMMAND_STDOUT_ONLY", "AWF_CHROOT_IDENTITY_UID", "AWF_CHROOT_IDENTITY_GID",
      "AWF_CHROOT_IDENTITY_HOME", "AWF_CHROOT_IDENTITY_USER",
  };
  return names;
}

EnvMap build_environment(const EnvironmentInputs& in) {
  EnvMap env;
  for (const auto& [key, value] : in.incoming) {
    // Every SUDO_* (SUDO_PS1, SUDO_HOME, ...): sudo's view of the caller, not ours.
    bool excluded = excluded_variables().count(key) || in.exclude.count(key) || key.rfind("SUDO_", 0) == 0;
    if (excluded && !in.keep.count(key)) continue;
    env[key] = value;
  }
  // PATH is always ours, even under --keep-env PATH: the command's root is
  // not the one the incoming PATH was written for.
  env["PATH"] = in.path.path;
  for (const auto& [key, value] : in.path.exports) env[key] = value;

  env["HOME"] = in.identity.home;
  const std::string& name = in.user_override.empty() ? in.identity.name : in.user_override;
  env["USER"] = name;
  env["LOGNAME"] = name;
  env["PWD"] = in.workdir;

  // git refuses repositories owned by another UID (the workspace belongs to
  // the host user, who may not be us). awf ran `git config --global --add
  // safe.directory '*'`; the GIT_CONFIG_COUNT environment protocol (git 2.31+)
  // does the same without writing a file into $HOME.
  size_t count = 0;
  if (auto it = env.find("GIT_CONFIG_COUNT"); it != env.end()) {
    auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), count);
    if (ec != std::errc() || end != it->second.data() + it->second.size()) count = 0;
  }
  env[fmt::format("GIT_CONFIG_KEY_{}", count)] = "safe.directory";
  env[fmt::format("GIT_CONFIG_VALUE_{}", count)] = "*";
  env["GIT_CONFIG_COUNT"] = std::to_string(count + 1);
  return env;
}

std::vector<std::string> to_envp(const EnvMap& env) {
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [key, value] : env) out.push_back(key + "=" + value);
  return out;
}

}  // namespace awf::entrypoint
