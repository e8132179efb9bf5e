// The `awf` command: `awf [options] -- <command>` runs the command in the
// native sandbox; `awf policy check` and `awf logs ...` are subcommands. This
// file only parses and dispatches; the work is in launcher/cli (options),
// launcher/logs, launcher/runtime and policy_check.cc.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "awf/cli/options.h"
#include "awf/cli/unknown_option.h"
#include "awf/logs/commands.h"
#include "awf/startup_trace.h"
#include "attach_command.h"
#include "policy_check.h"
#include "run_command.h"

extern char** environ;

namespace {

// CLI11 would write `Usage: awf [OPTIONS] [command...] [SUBCOMMAND]`, which
// hides the `--` every command needs; the subcommands keep CLI11's line.
class UsageFormatter : public CLI::Formatter {
 public:
  std::string make_usage(const CLI::App* app, std::string name) const override {
    if (app->get_parent() != nullptr) return CLI::Formatter::make_usage(app, std::move(name));
    return "Usage: awf [OPTIONS] -- COMMAND [ARGS...]\n"
           "       awf policy check [OPTIONS] TARGET...\n"
           "       awf logs [OPTIONS] [stats|summary|audit]\n"
           "       awf attach --pid PID [OPTIONS]\n";
  }
};

}  // namespace

int main(int argc, char** argv) {
  awf::startup_trace::mark("main");
  CLI::App app{"awf: run a command with its network egress limited to a domain allowlist"};
  app.name("awf");
  app.formatter(std::make_shared<UsageFormatter>());  // before the subcommands, which copy it
  // Bare, as awf (commander) prints it, so scripts that read it keep working.
  app.set_version_flag("--version", AWF_VERSION, "Print awf's version and exit");
  app.footer(
      "Examples:\n"
      "  awf --allow-domains github.com -- curl https://api.github.com/zen\n"
      "  awf policy check --allow-domains github.com api.github.com:443\n"
      "  awf logs summary\n"
      "  awf attach --pid 4242 --allow-domains github.com");

  awf::cli::Options options;
  awf::cli::register_options(app, options);

  CLI::App* policy = app.add_subcommand("policy", "Inspect the domain policy");
  policy->require_subcommand(1);
  CLI::App* check = policy->add_subcommand(
      "check",
      "Decide targets against the policy: one line `ALLOW|DENY <method> <target> <reason> <rule>` "
      "per target; exit 0 if all are allowed, 1 if any is denied, 2 on invalid input");
  awf::launcher::PolicyCheckOptions check_options;
  awf::launcher::add_policy_check_flags(*check, check_options);

  auto logs = awf::logs::register_logs_commands(app);

  awf::cli::Options attach_options;
  long attach_pid = 0;
  // `attach` is chosen only by that word before "--": without it, its copy
  // of every awf flag need not be registered.
  bool attach_named = false;
  for (int i = 1; i < argc && std::string_view(argv[i]) != "--"; ++i) {
    attach_named = attach_named || std::string_view(argv[i]) == "attach";
  }
  CLI::App* attach = awf::launcher::add_attach_command(app, attach_options, attach_pid, attach_named);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // `awf policy check` promises 2 for invalid input; awf itself exits 1
    // on usage errors (commander).
    const int code = check->parsed() || policy->parsed() ? 2 : 1;
    const auto unknown = dynamic_cast<const CLI::ExtrasError*>(&e) ? awf::cli::unknown_option_message(app)
                                                                  : std::nullopt;
    if (unknown) {
      std::cerr << "error: " << *unknown << "\n";
    } else if (code == 2) {
      app.exit(e);
    } else {
      std::cerr << "error: " << e.what() << "\n";
    }
    return code;
  }

  if (check->parsed()) return awf::launcher::run_policy_check(check_options, std::cout, std::cerr);
  const auto host_env = awf::cli::environment_from(environ);
  if (logs->selected()) return logs->run(std::cout, std::cerr, host_env, isatty(STDOUT_FILENO) == 1);
  if (attach->parsed()) {
    return awf::launcher::run_attach_command(*attach, std::move(attach_options), attach_pid, host_env);
  }
  awf::startup_trace::mark("options parsed");
  const int code = awf::launcher::run_command(app, std::move(options), host_env);
  awf::startup_trace::mark("exit");
  return code;
}
