// The agent's command string, built from what follows `--` exactly as awf
// builds it: one argument is a shell string used verbatim,
// several are each shell-quoted and joined with spaces.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace awf::cli {

// An argument made only of [A-Za-z0-9_-./=:] stays bare; anything else
// (including the empty string) is wrapped in single quotes, with each `'`
// written as `'\''`.
std::string shell_quote(std::string_view arg);

// One argument: returned unchanged (so `awf -- 'echo $HOME'` expands inside
// the sandbox). Several: shell_quote() each, joined by one space. The result
// is run as `/bin/bash -c <string>`.
std::string build_command_string(const std::vector<std::string>& args);

}  // namespace awf::cli
