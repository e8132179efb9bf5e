// The ordered steps from configuration to the running command.
#include "awf/entrypoint/run.h"

#include <fcntl.h>
#include <glob.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "awf/entrypoint/environment.h"
#include "awf/entrypoint/identity.h"
#include "awf/entrypoint/launch.h"
#include "awf/entrypoint/log.h"
#include "awf/entrypoint/mounts.h"
#include "awf/entrypoint/overlay.h"
#include "awf/entrypoint/path.h"
#include "awf/entrypoint/procfs.h"
#include "awf/entrypoint/resolv_conf.h"
#include "awf/entrypoint/seccomp.h"
#include "awf/entrypoint/view.h"
#include "awf/startup_trace.h"

namespace awf::entrypoint {
namespace {

bool is_dir_in_root(const std::string& root, const std::string& path) {
  auto p = open_in_root(root, path, CreateOptions{.create = false});
  struct stat st;
  return p && fstatat(p->fd.get(), "", &st, AT_EMPTY_PATH) == 0 && S_ISDIR(st.st_mode);
}

std::vector<std::string> glob_in_root(const std::string& root, const std::string& pattern) {
  std::vector<std::string> out;
  const std::string prefix = root == "/" ? "" : root;
  glob_t g{};
  if (glob((prefix + pattern).c_str(), GLOB_ONLYDIR, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(std::string(g.gl_pathv[i]).substr(prefix.size()));
  }
  globfree(&g);
  return out;
}

Result<WorkDir> create_work_dir() {
  // Only a mount point for our own tmpfs: /dev/shm first, a tmpfs, where
  // making and removing a directory costs nothing (on a disk it can wait
  // for the journal, or for a discard: milliseconds); /tmp where there is
  // no /dev/shm.
  auto dir = WorkDir::create("/dev/shm");
  if (dir) return dir;
  auto fallback = WorkDir::create("/tmp");
  if (fallback) return fallback;
  return dir.error();
}

// Step 8's working directory: AWF_WORKDIR, else $HOME, else / with awf's warning.
std::string resolve_workdir(const Config& cfg, const Identity& id, const std::string& root) {
  std::string wd = !cfg.workdir.empty() ? cfg.workdir : id.home;
  if (wd.empty()) return "/";
  if (!is_dir_in_root(root, wd)) {
    log_warn(fmt::format("Working directory {} does not exist on host, will use /", wd));
    return "/";
  }
  return wd;
}

Result<int> launch(LaunchPlan plan, const sigset_t& original) {
  if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    // Not PID 1: become the command's orphans' reaper anyway. Best effort.
    log_warn(fmt::format("PR_SET_CHILD_SUBREAPER failed: {}", errno_text(errno)));
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Error{fmt::format("pipe2 failed: {}", errno_text(errno))};
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  pid_t child = fork();
  if (child < 0) return Error{fmt::format("fork failed: {}", errno_text(errno))};
  if (child == 0) {
    read_end.reset();
    exec_command(plan, write_end.get(), original);
  }
  write_end.reset();
  auto code = supervise(child, std::move(read_end));
  startup_trace::mark("command reaped");
  return code;
}

// --start-gate: everything up to the command is ready; the launcher says
// whether it may start (its proxy serves) with 'G', or closes the gate.
Status pass_start_gate(int gate) {
  if (gate < 0) return ok_status();
  char answer[64];
  ssize_t got;
  do {
    got = read(gate, answer, sizeof answer);
  } while (got < 0 && errno == EINTR);
  const int err = errno;
  close(gate);  // never the command's
  if (got < 0) return Error{fmt::format("Reading the start gate failed: {}", errno_text(err))};
  if (got == 0 || answer[0] != 'G') return Error{"The launcher ended the run before the command started"};
  return ok_status();
}

// Blocks what the supervisor waits for, from the start: a SIGTERM during
// setup stays pending and reaches the command (ending the run through the
// normal path, cleanup included) instead of killing us halfway with mounts
// and created files left behind; no SIGCHLD slips between fork and
// sigwaitinfo either. `original` is what the command gets back.
Status block_supervisor_signals(sigset_t& original) {
  const sigset_t waited = supervisor_signals();
  if (sigprocmask(SIG_BLOCK, &waited, &original) != 0) {
    return Error{fmt::format("sigprocmask failed: {}", errno_text(errno))};
  }
  return ok_status();
}

// Step 2: the root's directories and mounts, up to the credential masks.
Status prepare_root(const Config& cfg, const std::string& root) {
  if (cfg.mode == RootMode::kBuildView) {
    if (mkdir(root.c_str(), 0755) != 0) return Error{fmt::format("mkdir {}: {}", root, errno_text(errno))};
    AWF_TRY(build_view(root, selective_mount_table(cfg), cfg.uid, cfg.gid));
  }
  AWF_TRY(apply_extra_mounts(root, cfg.mounts));
  AWF_TRY(mask_credentials(root, cfg.home));
  if (cfg.mode != RootMode::kBuildView) return ok_status();
  return mask_host_sockets(root, writable_host_dirs(cfg));
}

// Steps 6 and 8: PATH, environment, argv and working directory.
Result<LaunchPlan> plan_launch(const Config& cfg, const EnvMap& env, const std::string& root, const Identity& id) {
  PathInputs path_in;
  path_in.host_path = cfg.host_path;
  if (!cfg.github_path_file.empty()) {
    auto content = read_file(cfg.github_path_file, true);
    if (!content) return content.error();
    path_in.github_path = parse_github_path(*content);
  }
  path_in.home = id.home;
  path_in.toolchains = cfg.toolchains;
  if (auto it = env.find("LD_LIBRARY_PATH"); it != env.end()) path_in.ld_library_path = it->second;
  if (auto it = env.find("NPM_CONFIG_PREFIX"); it != env.end()) path_in.npm_config_prefix = it->second;
  path_in.is_dir = [&](const std::string& p) { return is_dir_in_root(root, p); };
  path_in.glob = [&](const std::string& p) { return glob_in_root(root, p); };
  const PathResult path = build_path(path_in);

  LaunchPlan plan;
  // Compiled here, before the start gate, where it costs nothing; the
  // child loads it last.
  auto seccomp = compile_seccomp_filter();
  if (!seccomp) return seccomp.error();
  plan.seccomp = std::move(*seccomp);
  plan.root = root;
  plan.workdir = resolve_workdir(cfg, id, root);
  plan.identity = id;
  plan.search_path = path.path;
  plan.argv = command_argv(cfg.command);
  plan.envp = to_envp(build_environment(EnvironmentInputs{.incoming = env,
                                                          .identity = id,
                                                          .user_override = cfg.identity_user,
                                                          .path = path,
                                                          .workdir = plan.workdir,
                                                          .exclude = cfg.exclude_env,
                                                          .keep = cfg.keep_env}));
  return plan;
}

// The steps, in order. Everything acquired on the way (work
// directory, overlaid files) is released by its destructor on every path.
Result<int> run_steps(const Config& cfg, const EnvMap& env) {
  const bool build = cfg.mode == RootMode::kBuildView;
  sigset_t original;
  AWF_TRY(block_supervisor_signals(original));                      // 9 (see why there)
  AWF_TRY(enter_private_mount_namespace());                         // 2
  auto work = create_work_dir();
  if (!work) return work.error();
  startup_trace::mark("mount namespace");
  const std::string root = build ? work->path() + "/root" : cfg.chroot_dir;
  AWF_TRY(prepare_root(cfg, root));                                 // 2
  startup_trace::mark("view built");
  AWF_TRY(mount_procfs(root));                                      // 3
  AWF_TRY(mount_cgroup_readonly(root));                             // 3
  startup_trace::mark("procfs and cgroup");
  const std::string scratch = work->path() + "/files";
  if (mkdir(scratch.c_str(), 0700) != 0) return Error{fmt::format("mkdir {}: {}", scratch, errno_text(errno))};
  FileOverlay overlay(scratch, /*remove_created=*/!build);
  AWF_TRY(install_resolv_conf(root, cfg.dns_servers, build, overlay));  // 4
  auto identity = prepare_identity(root, cfg.uid, cfg.gid, cfg.home, overlay);  // 5
  if (!identity) return identity.error();
  if (build) AWF_TRY(seal_view(root));
  startup_trace::mark("resolv.conf, identity, view sealed");
  auto plan = plan_launch(cfg, env, root, *identity);               // 6, 8
  if (!plan) return plan.error();
  startup_trace::mark("launch planned");
  log_info(fmt::format("Switching to {} (UID: {}, GID: {})", identity->name, identity->uid, identity->gid));
  AWF_TRY(pass_start_gate(cfg.start_gate));
  startup_trace::mark("start gate passed");
  log_info(fmt::format("Executing command: {}", fmt::join(cfg.command, " ")));
  return launch(std::move(*plan), original);                        // 7, 8, 9
}

}  // namespace

int run(const Config& cfg, const EnvMap& env) {
  set_quiet(cfg.quiet);
  for (const auto& note : cfg.notes) log_info(note);
  auto code = run_steps(cfg, env);
  if (!code) {
    log_error(code.message());
    return kExitSetupFailed;
  }
  return *code;
}

}  // namespace awf::entrypoint
