// The `awf` command: parses the command line and hands each subcommand to its
// own file. Exit 2 for usage errors, like `awf policy check`'s invalid input.
#include <CLI/CLI.hpp>

#include <iostream>

#include "policy_check.h"

int main(int argc, char** argv) {
  CLI::App app{"awf: run a command with its network egress limited to a domain allowlist"};
  app.require_subcommand(1);
  CLI::App* policy = app.add_subcommand("policy", "Inspect the domain policy");
  policy->require_subcommand(1);
  CLI::App* check = policy->add_subcommand(
      "check",
      "Decide targets against the policy: one line `ALLOW|DENY <method> <target> <reason> <rule>` "
      "per target; exit 0 if all are allowed, 1 if any is denied, 2 on invalid input");
  awf::launcher::PolicyCheckOptions check_options;
  awf::launcher::add_policy_check_flags(*check, check_options);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  if (check->parsed()) return awf::launcher::run_policy_check(check_options, std::cout, std::cerr);
  return 2;
}
