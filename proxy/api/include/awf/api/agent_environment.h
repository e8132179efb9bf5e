// What the agent's environment says about the API proxy: base URLs pointing
// at its listeners, placeholders in the credential variables, the variables
// withheld from it and the NO_PROXY entries. Applied last, after every other
// source of the agent's environment, so `-e OPENAI_API_KEY=real` cannot put a
// real key back.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "awf/api/settings.h"

namespace awf::api {

struct AgentEnvironmentOptions {
  // Address the agent reaches the listeners at (an IP literal: the agent's
  // resolver may not know a name): base URLs are http://<host>:<port>.
  std::string listener_host = "127.0.0.1";
  // Path of a script in the agent's view that prints the Anthropic
  // placeholder (Claude Code's key helper); unset when empty.
  std::string claude_key_helper;
};

struct AgentApiEnvironment {
  std::map<std::string, std::string> set;  // to set last, overwriting
  std::vector<std::string> withheld;       // never copied from the host, always
  std::vector<std::string> no_proxy;       // to add to NO_PROXY and no_proxy
};

// The real credentials, the provider base URLs the proxy reads and the
// Actions runtime tokens: the agent never gets the host's values.
const std::vector<std::string>& withheld_variables();

// The variables of every configured provider (Copilot: routed), withheld
// names and NO_PROXY entries.
AgentApiEnvironment agent_environment(const ProviderSettings& settings, const AgentEnvironmentOptions& options);

// The text of Claude Code's key helper: prints the Anthropic placeholder.
std::string claude_key_helper_script();

}  // namespace awf::api
