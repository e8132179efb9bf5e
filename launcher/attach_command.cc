// `awf attach`: the command line (awf's policy and log flags, nothing about
// a command, since attach starts none) turned into the runtime's attach.
#include "attach_command.h"

#include <CLI/CLI.hpp>

#include <iostream>
#include <optional>
#include <set>

#include "awf/cli/blocked_report.h"
#include "awf/logs/entry.h"
#include "awf/runtime/runtime.h"
#include "launch_shared.h"

namespace awf::launcher {
namespace {

// The flags `awf attach` takes besides --pid: what decides the policy, the
// proxy's DNS and the logs. Every other awf flag is about the command awf
// would start (its environment, mounts, identity, the API proxy's
// placeholders) and is refused by name rather than ignored.
const std::set<std::string>& attach_flags() {
  static const std::set<std::string> kFlags = {
      "--allow-domains", "--allow-domains-file", "--ruleset-file",  "--block-domains",
      "--block-domains-file", "--dns-servers", "--dns-policy",       "--hosts-file",
      "--allow-private-ranges", "--tunnel-sni-check", "--policy-mode", "--allowed-methods", "--enable-dlp", "--upstream-proxy", "--log-level", "--proxy-logs-dir",
      "--work-dir", "--keep-containers"};
  return kFlags;
}

// The first flag given on the command line that attach does not take.
std::optional<std::string> refused_flag(const CLI::App& attach) {
  for (const CLI::Option* option : attach.get_options()) {
    if (option->count() == 0 || option->get_lnames().empty()) continue;  // not given, or the positional
    const std::string name = "--" + option->get_lnames().front();
    if (name == "--pid" || name == "--help") continue;
    if (attach_flags().count(name) == 0) return name;
  }
  return std::nullopt;
}

}  // namespace

CLI::App* add_attach_command(CLI::App& app, cli::Options& options, long& pid, bool with_flags) {
  CLI::App* attach = app.add_subcommand(
      "attach",
      "Firewall a process that already runs in a network namespace of its own (bubblewrap, firejail, podman, "
      "ip netns): the proxy's listeners, DNS and redirect rules go into that namespace until the process exits");
  attach->add_option("--pid", pid, "The process whose network namespace awf serves (not the host's)")->required();
  if (with_flags) cli::register_options(*attach, options);
  attach->footer(
      "Takes awf's policy and log flags: --allow-domains(-file), --ruleset-file, --block-domains(-file), "
      "--dns-servers, --dns-policy, --hosts-file, --allow-private-ranges, --tunnel-sni-check, --policy-mode, --allowed-methods, --enable-dlp, "
      "--upstream-proxy, --log-level, "
      "--proxy-logs-dir, --work-dir, -k.\n"
      "Example: awf attach --pid 4242 --allow-domains github.com --dns-servers 127.0.0.53");
  return attach;
}

int run_attach_command(const CLI::App& attach, cli::Options options, long pid, const cli::Environment& host_env) {
  if (!options.command.empty()) {
    std::cerr << "[ERROR] awf attach starts no command (it serves the one running as --pid): remove \""
              << options.command.front() << "\"\n";
    return 1;
  }
  if (auto flag = refused_flag(attach)) {
    std::cerr << "[ERROR] awf attach does not take " << *flag
              << ": it concerns the command awf starts, and attach starts none (the sandbox that runs the "
                 "process decides it). See awf attach --help for the flags it takes.\n";
    return 1;
  }
  if (pid <= 0 || pid > 0x3fffffff) {
    std::cerr << "[ERROR] awf attach: --pid " << pid << " is not a process ID\n";
    return 1;
  }
  options.command = {"awf-attach"};  // finalize_options wants one; nothing runs it
  auto finalized = cli::finalize_options(attach, std::move(options), cli::FinalizeContext::from_host(host_env));
  if (!finalized) {
    std::cerr << finalized.message() << "\n";
    return 1;
  }
  const cli::LaunchConfig& cfg = *finalized;
  print_notices(cfg);

  runtime::RuntimeConfig rc;
  apply_proxy_settings(cfg, rc);
  record_run(rc, host_env, cfg.log_level);
  if (cfg.api_proxy.enabled && shows(cfg.log_level, cli::Notice::Level::info)) {
    std::cerr << "[INFO] awf attach runs no API proxy: provider keys in this environment are not used\n";
  }
  rc.on_finished = [&cfg](int, const std::string& log_dir) {
    const auto entries = logs::parse_log_text(read_access_log(log_dir), logs::LogFormat::access_log_any_client);
    std::size_t allowed = 0, denied = 0;
    for (const auto& e : entries) {
      if (e.url == logs::kAbortedTransactionUrl) continue;
      const std::size_t n = e.repeated > 0 ? e.repeated : 1;
      (e.is_allowed ? allowed : denied) += n;
    }
    std::cerr << cli::post_run_blocked_report(entries, cfg.policy.allow);
    std::cerr << "[INFO] awf attach: " << allowed << " allowed, " << denied << " denied (requests and DNS "
              << "lookups); access log in " << log_dir << "\n";
  };

  auto result = runtime::run_attach(rc, static_cast<pid_t>(pid));
  if (!result) {
    std::cerr << "[ERROR] " << result.message() << "\n";
    runtime::print_exit_line(1);
    return 1;
  }
  return *result;
}

}  // namespace awf::launcher
