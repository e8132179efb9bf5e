// Command-string construction for the agent (awf's shell-utils rules).
#include "awf/cli/command.h"

namespace awf::cli {

namespace {
bool is_safe_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.' || c == '/' || c == '=' || c == ':';
}
}  // namespace

std::string shell_quote(std::string_view arg) {
  bool safe = !arg.empty();
  for (char c : arg) safe = safe && is_safe_char(c);
  if (safe) return std::string(arg);
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  out.push_back('\'');
  return out;
}

std::string build_command_string(const std::vector<std::string>& args) {
  if (args.size() == 1) return args.front();
  std::string out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (i) out.push_back(' ');
    out += shell_quote(args[i]);
  }
  return out;
}

}  // namespace awf::cli
