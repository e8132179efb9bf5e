// awf-entrypoint: parses flags, runs the entrypoint's steps, exits with the
// command's status.
#include <CLI/CLI.hpp>
#include <string>
#include <string_view>

#include "awf/entrypoint/config.h"
#include "awf/entrypoint/launch.h"
#include "awf/entrypoint/log.h"
#include "awf/entrypoint/run.h"
#include "awf/startup_trace.h"

extern char** environ;

namespace {

constexpr const char* kDescription = R"(awf-entrypoint: run a command as the unprivileged host user inside awf's sandbox view.

Steps, in order: read flags (the AWF_* environment of awf's entrypoint.sh is the
fallback; flags win); enter a private mount namespace; build the selective-mount
view (default) or use a prepared one (--chroot); mount procfs (hidepid=2) and a
read-only /sys/fs/cgroup; write /etc/resolv.conf; resolve or synthesize the user;
rebuild PATH and the environment; fork; in the child drop every capability,
switch user, set no_new_privs, load seccomp, verify /proc/self/status, exec. The
entrypoint stays as the command's init: it forwards TERM INT HUP QUIT USR1 USR2
WINCH, reaps every zombie and exits with the command's status.

Command: one argument is a shell string run by /bin/bash -c (awf's contract);
several are executed directly, searched in the command's PATH.)";

constexpr const char* kFooter = R"(Exit codes:
  0-255   the command's exit status
  128+N   the command died of signal N
  1       bad configuration or a failed setup step ([entrypoint][ERROR] says which)
  126     the command was found but could not be executed
  127     the command was not found

Configuration errors (exit 1):
  Invalid AWF_USER_UID: must be numeric (got "x")   (--uid: "Invalid --uid: ...")
  Invalid AWF_USER_UID: cannot be 0 (root)          (same for GIDs)
  Invalid volume mount: <spec>
  Reason: host path does not exist: <path>
  Invalid DNS server "<x>": expected an IPv4 or IPv6 address
A missing working directory is not an error:
  [entrypoint][WARN] Working directory <dir> does not exist on host, will use /)";

}  // namespace

int main(int argc, char** argv) {
  awf::startup_trace::mark("main");
  using awf::entrypoint::RawOptions;
  RawOptions raw;
  CLI::App app{kDescription, "awf-entrypoint"};
  app.footer(kFooter);
  app.set_version_flag("--version", std::string("awf-entrypoint ") + AWF_VERSION, "Print the version and exit");
  app.prefix_command();  // everything from the command's first word on is the command

  auto str = [&](const char* name, std::optional<std::string>& into, const char* help) {
    app.add_option_function<std::string>(name, [&into](const std::string& v) { into = v; }, help);
  };
  app.add_option_function<std::string>(
      "--chroot", [&](const std::string& v) { raw.chroot = v; },
      "Use DIR, a view prepared by someone else (awf's /host layout), as the root. "
      "Env: AWF_CHROOT_ENABLED=true means /host.");
  app.add_flag("--build-view", raw.build_view,
               "Build the selective-mount view (the default unless AWF_CHROOT_ENABLED=true).");
  str("--uid", raw.uid, "The command's UID. Env: AWF_CHROOT_IDENTITY_UID, AWF_USER_UID. Default 1000.");
  str("--gid", raw.gid, "The command's GID. Env: AWF_CHROOT_IDENTITY_GID, AWF_USER_GID. Default 1000.");
  app.add_flag("--exact-ids", raw.exact_ids,
               "Keep UIDs/GIDs below 1000 as given (awf maps them to 1000). 0 is always refused.");
  str("--home", raw.home,
      "The host user's home: $HOME inside; in a built view an empty tmpfs with the allowed tool "
      "directories of this host directory. Env: AWF_CHROOT_IDENTITY_HOME, HOME.");
  str("--workdir", raw.workdir, "Working directory inside (a leading /host is stripped). Env: AWF_WORKDIR. Default $HOME.");
  str("--workspace", raw.workspace,
      "Built view: directory mounted read-write at the same path. Env: GITHUB_WORKSPACE. Default: the current directory.");
  str("--tmp", raw.tmp, "Built view: host directory mounted read-write at /tmp. Default /tmp.");
  app.add_option("--mount", raw.mounts,
                 "host:container[:ro|rw], repeatable; rw when no mode is given; the host path must exist.")
      ->allow_extra_args(false);
  app.add_option("--etc", raw.etc_entries,
                 "Built view: also expose /etc/NAME read-only (besides awf's list: ssl, ca-certificates, "
                 "alternatives, ld.so.cache, nsswitch.conf, passwd, group, hosts), repeatable.")
      ->allow_extra_args(false);
  str("--dns", raw.dns,
      "Comma-separated nameserver IPs for the sandbox's /etc/resolv.conf (with options ndots:0). "
      "Env: AWF_DNS_SERVERS. Unset: a built view copies the host's file, a prepared root is left alone.");
  str("--host-path", raw.host_path, "The host PATH to rebuild the command's PATH from. Env: AWF_HOST_PATH.");
  str("--github-path", raw.github_path, "File of extra PATH entries, later lines first. Env: GITHUB_PATH.");
  str("--goroot", raw.goroot, "Env: AWF_GOROOT.");
  str("--java-home", raw.java_home, "Env: AWF_JAVA_HOME.");
  str("--cargo-home", raw.cargo_home, "Env: AWF_CARGO_HOME.");
  str("--rustup-home", raw.rustup_home, "Env: AWF_RUSTUP_HOME.");
  str("--dotnet-root", raw.dotnet_root, "Env: AWF_DOTNET_ROOT.");
  str("--bun-install", raw.bun_install, "Env: AWF_BUN_INSTALL.");
  app.add_option("--exclude-env", raw.exclude_env, "Also drop this variable, repeatable.")->allow_extra_args(false);
  app.add_option("--keep-env", raw.keep_env,
                 "Pass this variable although it is in the exclusion set (never PATH), repeatable.")
      ->allow_extra_args(false);
  app.add_flag("--stdout-only", raw.stdout_only,
               "Accepted for awf compatibility (AWF_COMMAND_STDOUT_ONLY): our messages always go to stderr.");
  app.add_flag("-q,--quiet", raw.quiet, "Only warnings and errors.");
  str("--start-gate", raw.start_gate,
      "Descriptor FD (a socket or pipe from the launcher): build the view, then wait on FD and start the "
      "command only when 'G' arrives there; EOF ends the run with 1 before the command exists.");
  // No positional option: with prefix_command() CLI11 leaves the first
  // non-option word and everything after it, in order, in remaining(). A
  // positional vector would take `/bin/bash` and `x` but leave `-c` behind.

  // Everything after the first "--" is the command, whatever it looks like;
  // without "--", the command starts at the first word that is not an option.
  int option_count = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--") {
      option_count = i;
      for (int j = i + 1; j < argc; ++j) raw.command.emplace_back(argv[j]);
      break;
    }
  }
  try {
    app.parse(option_count, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : awf::entrypoint::kExitSetupFailed;
  }
  if (option_count != argc && !app.remaining().empty()) {
    awf::entrypoint::log_error("Unexpected arguments before \"--\": the command goes after it");
    return awf::entrypoint::kExitSetupFailed;
  }
  if (option_count == argc) raw.command = app.remaining();

  auto env = awf::entrypoint::environ_to_map(environ);
  env.erase(awf::startup_trace::kVariable);  // the trace is ours, not the command's
  auto cfg = awf::entrypoint::make_config(raw, env);
  if (!cfg) {
    awf::entrypoint::log_error(cfg.message());
    return awf::entrypoint::kExitSetupFailed;
  }
  awf::startup_trace::mark("options parsed");
  const int code = awf::entrypoint::run(*cfg, env);
  awf::startup_trace::mark("exit");
  return code;
}
