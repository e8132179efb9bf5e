// Runs the real awf-entrypoint in mount+PID namespaces this test creates
// (clone(2) with CLONE_NEWNS|CLONE_NEWPID: the entrypoint is PID 1 there) and
// checks the sandbox from inside with real commands. Needs root; skips
// without it unless CI=true, where a missing facility is a failure.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>

#include "awf/testing/facility.h"

#include <atomic>
#include <thread>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct RunResult {
  int exit_code = -1;  // 128+N for signal deaths, like a shell
  std::string out, err;
  bool timed_out = false;
};

struct RunOptions {
  std::vector<std::string> args;  // after the binary
  std::map<std::string, std::string> env;
  bool new_namespaces = true;
  // Also a user namespace, root inside mapped to kUserNsBase.. outside (the
  // launcher's rootless setup).
  bool user_namespace = false;
  // Runs in the cloned child before exec (it is already in the new mount
  // namespace): prepares a root for --chroot tests. Return false to abort.
  std::function<bool()> prepare;
  // Called with the output so far and the entrypoint's PID; may signal it.
  std::function<void(const std::string& out, pid_t pid)> on_output;
  int timeout_seconds = 30;
};

constexpr unsigned kUserNsBase = 100000;

bool write_text(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return ok;
}

long clone_process(unsigned long flags) {
  // Raw clone(2) with no new stack behaves like fork(2) but can create
  // namespaces for the child alone (the test process stays where it is).
  return syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
}

RunResult run_entrypoint(const RunOptions& opt) {
  RunResult result;
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) return result;
  std::vector<std::string> argv_s{AWF_ENTRYPOINT_BIN};
  argv_s.insert(argv_s.end(), opt.args.begin(), opt.args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"};
  for (const auto& [k, v] : opt.env) env_s.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);

  int sync[2];
  if (pipe2(sync, O_CLOEXEC) != 0) return result;
  unsigned long flags = opt.new_namespaces ? (CLONE_NEWNS | CLONE_NEWPID) : 0;
  if (opt.user_namespace) flags |= CLONE_NEWUSER;
  long pid = clone_process(flags);
  if (pid < 0) return result;
  if (pid == 0) {
    // Wait until the parent has written our ID maps.
    close(sync[1]);
    char c;
    while (read(sync[0], &c, 1) < 0 && errno == EINTR) {
    }
    // Our host IDs (root) are not mapped inside: become the namespace's root.
    if (opt.user_namespace && (setgroups(0, nullptr) != 0 || setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0)) {
      _exit(97);
    }
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    if (opt.new_namespaces) mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
    if (opt.prepare && !opt.prepare()) _exit(99);
    execve(argv[0], argv.data(), envp.data());
    _exit(98);
  }
  close(sync[0]);
  if (opt.user_namespace) {
    const std::string map = "0 " + std::to_string(kUserNsBase) + " 65536\n";
    if (!write_text("/proc/" + std::to_string(pid) + "/uid_map", map) ||
        !write_text("/proc/" + std::to_string(pid) + "/gid_map", map)) {
      result.err = "writing the ID maps failed";
    }
  }
  close(sync[1]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  const auto deadline = Clock::now() + std::chrono::seconds(opt.timeout_seconds);
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      result.timed_out = true;
      kill(static_cast<pid_t>(pid), SIGKILL);
      break;
    }
    int n = poll(fds, 2, static_cast<int>(std::min<long>(left, 200)));
    if (n < 0 && errno == EINTR) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(got));
      if (i == 0 && opt.on_output) opt.on_output(result.out, static_cast<pid_t>(pid));
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  int status = 0;
  while (waitpid(static_cast<pid_t>(pid), &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

bool namespaces_available() {
  static const bool available = [] {
    if (geteuid() != 0) return false;
    long pid = clone_process(CLONE_NEWNS | CLONE_NEWPID);
    if (pid < 0) return false;
    if (pid == 0) _exit(getpid() == 1 ? 0 : 1);
    int status = 0;
    waitpid(static_cast<pid_t>(pid), &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }();
  return available;
}

// A home, a workspace and a private /tmp for one test, removed afterwards.
class EntrypointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AWF_REQUIRE_FACILITY(namespaces_available(), "root and mount/PID namespaces");
    AWF_REQUIRE_FACILITY(fs::exists(AWF_ENTRYPOINT_BIN), AWF_ENTRYPOINT_BIN);
    char templ[] = "/tmp/awf-ep-test.XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    base_ = templ;
    // The command runs as another UID: it must be able to walk to its dirs.
    fs::permissions(base_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec);
    home_ = base_ + "/home";
    workspace_ = base_ + "/ws";
    tmp_ = base_ + "/tmp";
    fs::create_directories(home_);
    fs::create_directories(workspace_);
    fs::create_directories(tmp_);
    fs::permissions(workspace_, fs::perms::all);
    fs::permissions(tmp_, fs::perms::all | fs::perms::sticky_bit);
  }
  void TearDown() override {
    // The mounts lived in namespaces that died with the entrypoint.
    if (!base_.empty()) {
      std::error_code ec;
      fs::remove_all(base_, ec);
    }
  }

  // A built view with this test's home, workspace and /tmp.
  std::vector<std::string> view_args(std::vector<std::string> extra = {}) const {
    std::vector<std::string> args{"--home", home_, "--workspace", workspace_, "--workdir", workspace_,
                                  "--tmp", tmp_, "--quiet"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  RunResult run_shell(const std::string& script, std::vector<std::string> extra = {},
                      std::map<std::string, std::string> env = {}) {
    RunOptions opt;
    opt.args = view_args(std::move(extra));
    opt.args.push_back("--");
    opt.args.push_back(script);
    opt.env = std::move(env);
    return run_entrypoint(opt);
  }

  static void write_file(const std::string& path, const std::string& content) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path) << content;
  }

  std::string base_, home_, workspace_, tmp_;
};

std::map<std::string, std::string> status_fields(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    out[line.substr(0, colon)] = value;
  }
  return out;
}

TEST_F(EntrypointTest, CommandHasNoCapabilitiesNoNewPrivsAndSeccomp) {
  RunResult r = run_shell("cat /proc/self/status");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto f = status_fields(r.out);
  for (const char* key : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) {
    EXPECT_EQ(f[key], "0000000000000000") << key;
  }
  EXPECT_EQ(f["NoNewPrivs"], "1");
  EXPECT_EQ(f["Seccomp"], "2");
}

TEST_F(EntrypointTest, CommandRunsAsTheMappedUser) {
  RunResult r = run_shell("id -u; id -g; whoami; echo $HOME $USER $LOGNAME", {"--uid", "4321", "--gid", "4322"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "4321\n4322\nrunner\n" + home_ + " runner runner\n");
}

TEST_F(EntrypointTest, LowUidFromAwfEnvironmentBecomes1000) {
  RunResult r = run_shell("id -u; id -g", {}, {{"AWF_USER_UID", "5"}, {"AWF_USER_GID", "5"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1000\n1000\n");
}

TEST_F(EntrypointTest, ExactIdsKeepsALowUid) {
  RunResult r = run_shell("id -u", {"--uid", "555", "--gid", "555", "--exact-ids"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "555\n");
}

TEST_F(EntrypointTest, PrivilegedOperationsFail) {
  const std::string script =
      "mount -t tmpfs none /tmp >/dev/null 2>&1; echo mount=$?\n"
      "umount /proc >/dev/null 2>&1; echo umount=$?\n"
      "chroot / /bin/true >/dev/null 2>&1; echo chroot=$?\n"
      "unshare --mount /bin/true >/dev/null 2>&1; echo unshare=$?\n"
      "unshare --user --map-root-user /bin/true >/dev/null 2>&1; echo userns=$?\n"
      "nsenter -t 1 -m /bin/true >/dev/null 2>&1; echo nsenter=$?\n"
      "python3 -c 'import ctypes,sys; sys.exit(0 if ctypes.CDLL(None).ptrace(0,0,0,0) == 0 else 1)'; echo ptrace=$?\n";
  RunResult r = run_shell(script);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* op : {"mount", "umount", "chroot", "unshare", "userns", "nsenter", "ptrace"}) {
    EXPECT_EQ(r.out.find(std::string(op) + "=0\n"), std::string::npos) << op << " succeeded:\n" << r.out;
    EXPECT_NE(r.out.find(std::string(op) + "="), std::string::npos) << op;
  }
}

#ifdef AWF_INT80_PROBE
// Whether this kernel runs 32-bit system calls (int $0x80) at all: kernels
// built without IA32 emulation, or booted with ia32_emulation=0, kill the
// caller with SIGSEGV, sandbox or not.
bool kernel_has_32bit_entry() {
  const pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    execl(AWF_INT80_PROBE, AWF_INT80_PROBE, static_cast<char*>(nullptr));
    _exit(98);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST_F(EntrypointTest, ThirtyTwoBitSystemCallsMeetTheSameFilter) {
  // No 32-bit entry means no 32-bit system call to filter: the facility does
  // not exist, so this skips even under CI=true (a skip cannot hide a broken
  // filter here; there is nothing for the filter to see).
  if (!kernel_has_32bit_entry()) {
    GTEST_SKIP() << "this kernel has no 32-bit system call entry (int $0x80 kills the probe outside the sandbox "
                    "too): nothing to filter";
  }
  // The probe lives in the build tree, outside the view: expose it.
  const std::string probe_dir = fs::path(AWF_INT80_PROBE).parent_path();
  RunOptions opt;
  opt.args = view_args({"--mount", probe_dir + ":/probe:ro", "--", "/probe/entrypoint_int80_probe"});
  RunResult r = run_entrypoint(opt);
  ASSERT_EQ(r.exit_code, 0) << "killed instead of filtered? " << r.err;
  EXPECT_EQ(r.out, "getpid=ok ptrace=-1 unshare=-1\n");  // -EPERM
}
#endif

TEST_F(EntrypointTest, UsrIsReadOnlyAndTmpIsWritable) {
  RunResult r = run_shell(
      "touch /usr/awf-probe 2>/dev/null; echo usr=$?; touch /etc/awf-probe 2>/dev/null; echo etc=$?;"
      "touch /awf-probe 2>/dev/null; echo root=$?; echo x > /tmp/probe && echo tmp=$?;"
      "echo y > $HOME/probe && echo home=$?; echo z > " + workspace_ + "/probe && echo ws=$?");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "usr=1\netc=1\nroot=1\ntmp=0\nhome=0\nws=0\n");
  EXPECT_TRUE(fs::exists(tmp_ + "/probe"));
  EXPECT_TRUE(fs::exists(workspace_ + "/probe"));
  EXPECT_FALSE(fs::exists(home_ + "/probe")) << "the home is an empty tmpfs, not the host's";
}

TEST_F(EntrypointTest, MountOptionsAreAsDocumented) {
  // mountinfo fields: 5 = mount point, 6 = per-mount options, last = super options.
  RunResult r = run_shell("awk '{print $5, $6, $NF}' /proc/self/mountinfo");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, std::pair<std::string, std::string>> mounts;  // last mount on each point wins
  std::istringstream in(r.out);
  std::string point, opts, super;
  while (in >> point >> opts >> super) mounts[point] = {opts, super};
  auto has = [](const std::string& list, const std::string& item) {
    return ("," + list + ",").find("," + item + ",") != std::string::npos;
  };
  for (const char* ro : {"/", "/usr", "/etc", "/sys", "/sys/fs/cgroup", "/etc/passwd"}) {
    ASSERT_TRUE(mounts.count(ro)) << ro << "\n" << r.out;
    EXPECT_TRUE(has(mounts[ro].first, "ro")) << ro << ": " << mounts[ro].first;
  }
  for (const char* rw : {"/tmp", "/dev/shm"}) {
    ASSERT_TRUE(mounts.count(rw)) << rw;
    EXPECT_TRUE(has(mounts[rw].first, "rw")) << rw;
    EXPECT_TRUE(has(mounts[rw].first, "nosuid")) << rw;
  }
  ASSERT_TRUE(mounts.count("/proc"));
  for (const char* opt : {"nosuid", "nodev", "noexec"}) EXPECT_TRUE(has(mounts["/proc"].first, opt)) << opt;
  EXPECT_TRUE(has(mounts["/proc"].second, "hidepid=invisible") || has(mounts["/proc"].second, "hidepid=2"))
      << mounts["/proc"].second;
}

TEST_F(EntrypointTest, CredentialFilesReadEmpty) {
  write_file(home_ + "/.config/gh/hosts.yml", "oauth_token: SECRET\n");
  write_file(home_ + "/.docker/config.json", "{\"auths\":\"SECRET\"}\n");
  write_file(home_ + "/.ssh/id_rsa", "SECRET\n");
  write_file(home_ + "/.config/tool/settings", "visible\n");
  RunResult r = run_shell(
      "cat ~/.config/gh/hosts.yml; echo gh=$?; cat ~/.docker/config.json; echo docker=$?;"
      "cat ~/.ssh/id_rsa; echo ssh=$?; cat ~/.config/tool/settings");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "gh=0\ndocker=0\nssh=0\nvisible\n");
}

TEST_F(EntrypointTest, ProcIsFreshAndHidesOtherUsersProcesses) {
  RunResult r = run_shell(
      "readlink /proc/self/exe; python3 -c 'import os; print(os.readlink(\"/proc/self/exe\"))';"
      "cat /proc/1/environ >/dev/null 2>&1; echo environ=$?; grep -c . /proc/cpuinfo >/dev/null; echo cpuinfo=$?");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string readlink_exe, python_exe, environ_line, cpuinfo_line;
  std::getline(lines, readlink_exe);
  std::getline(lines, python_exe);
  std::getline(lines, environ_line);
  std::getline(lines, cpuinfo_line);
  EXPECT_EQ(fs::path(readlink_exe).filename().string().rfind("readlink", 0), 0u) << readlink_exe;
  EXPECT_EQ(fs::path(python_exe).filename().string().rfind("python3", 0), 0u) << python_exe;
  EXPECT_NE(environ_line, "environ=0") << "PID 1's environment (which holds tokens) must be hidden";
  EXPECT_EQ(cpuinfo_line, "cpuinfo=0");
}

TEST_F(EntrypointTest, PythonRunsFromTheHostView) {
  RunOptions opt;
  opt.args = view_args({"--", "python3", "-c", "import sys, json; print(json.dumps({'sum': sum(range(10))}))"});
  RunResult r = run_entrypoint(opt);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"sum\": 45}\n");
}

TEST_F(EntrypointTest, JavaRunsFromTheHostView) {
  std::error_code ec;
  fs::path java = fs::canonical("/usr/bin/java", ec);
  if (ec) GTEST_SKIP() << "no java on this machine";
  // Debian's JDK keeps its configuration under /etc/java-<n>-openjdk.
  std::vector<std::string> args = view_args();
  for (const auto& entry : fs::directory_iterator("/etc")) {
    std::string name = entry.path().filename();
    if (name.rfind("java", 0) == 0) {
      args.push_back("--etc");
      args.push_back(name);
    }
  }
  write_file(workspace_ + "/Hello.java",
             "public class Hello { public static void main(String[] a) {"
             " System.out.println(\"exe=\" + ProcessHandle.current().info().command().orElse(\"?\")); } }\n");
  args.insert(args.end(), {"--", "java", "Hello.java"});
  RunOptions opt;
  opt.args = args;
  opt.timeout_seconds = 60;
  RunResult r = run_entrypoint(opt);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "exe=" + java.string() + "\n");
}

class ExitCodeTest : public EntrypointTest, public ::testing::WithParamInterface<int> {};

TEST_P(ExitCodeTest, CommandExitCodePropagates) {
  RunResult r = run_shell("exit " + std::to_string(GetParam()));
  EXPECT_EQ(r.exit_code, GetParam()) << r.err;
}
INSTANTIATE_TEST_SUITE_P(Codes, ExitCodeTest, ::testing::Values(0, 1, 2, 42, 127, 255));

TEST_F(EntrypointTest, PipelinesAndCompoundCommandsPropagateLikeBash) {
  EXPECT_EQ(run_shell("true | false").exit_code, 1);
  EXPECT_EQ(run_shell("false || exit 3").exit_code, 3);
  EXPECT_EQ(run_shell("true && exit 4").exit_code, 4);
}

TEST_F(EntrypointTest, SignalDeathIs128PlusSignal) {
  EXPECT_EQ(run_shell("kill -TERM $$").exit_code, 128 + SIGTERM);
  EXPECT_EQ(run_shell("kill -KILL $$").exit_code, 128 + SIGKILL);
  EXPECT_EQ(run_shell("kill -SEGV $$").exit_code, 128 + SIGSEGV);
}

TEST_F(EntrypointTest, MissingProgramIs127) {
  RunOptions opt;
  opt.args = view_args({"--", "awf-no-such-program", "arg"});
  RunResult r = run_entrypoint(opt);
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_NE(r.err.find("[entrypoint][ERROR] Command not found: awf-no-such-program"), std::string::npos) << r.err;
}

// --start-gate: the command starts only after 'G' arrives there, and the
// gate is not the command's; EOF there ends the run with 1 and no command.
TEST_F(EntrypointTest, TheCommandStartsOnlyThroughTheStartGate) {
  for (const bool go : {true, false}) {
    int gate[2];
    ASSERT_EQ(pipe2(gate, 0), 0);
    ASSERT_EQ(fcntl(gate[1], F_SETFD, FD_CLOEXEC), 0);
    if (go) {
      ASSERT_EQ(write(gate[1], "G", 1), 1);
    }
    close(gate[1]);  // the entrypoint sees 'G' then EOF, or EOF alone
    RunResult r = run_shell("echo ran; ls /proc/self/fd | wc -l", {"--start-gate", std::to_string(gate[0])});
    close(gate[0]);
    if (go) {
      EXPECT_EQ(r.exit_code, 0) << r.err;
      // stdin, stdout, stderr and the directory ls reads: no gate.
      EXPECT_EQ(r.out, "ran\n4\n") << r.err;
    } else {
      EXPECT_EQ(r.exit_code, 1);
      EXPECT_EQ(r.out, "");
      EXPECT_NE(r.err.find("ended the run before the command started"), std::string::npos) << r.err;
    }
  }
}

TEST_F(EntrypointTest, AStartGateThatIsNoDescriptorIsRefused) {
  RunResult r = run_shell("echo ran", {"--start-gate", "x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("Invalid --start-gate: \"x\""), std::string::npos) << r.err;
}

TEST_F(EntrypointTest, NonExecutableProgramIs126) {
  write_file(workspace_ + "/script.sh", "#!/bin/sh\necho hi\n");
  RunOptions opt;
  opt.args = view_args({"--", workspace_ + "/script.sh"});
  RunResult r = run_entrypoint(opt);
  EXPECT_EQ(r.exit_code, 126) << r.err;
}

TEST_F(EntrypointTest, IgnoredSigpipeIsNotPassedToTheCommand) {
  RunOptions opt;
  opt.prepare = [] { return signal(SIGPIPE, SIG_IGN) != SIG_ERR; };
  opt.args = view_args({"--", "yes | head -1 >/dev/null; echo ${PIPESTATUS[0]}"});
  RunResult r = run_entrypoint(opt);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, std::to_string(128 + SIGPIPE) + "\n");
}

TEST_F(EntrypointTest, CommandWithoutSeparatorKeepsItsOwnOptions) {
  // No "--": the command starts at its first word; "-la" is the command's.
  RunOptions opt;
  opt.args = view_args({"--mount", "/usr:/data:ro", "--etc", "os-release", "ls", "-ld", "/"});
  RunResult r = run_entrypoint(opt);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("dr", 0), 0u) << r.out;
  EXPECT_NE(r.out.find(" /\n"), std::string::npos) << r.out;
}

TEST_F(EntrypointTest, ZombiesAreReapedByPid1) {
  // The middle process exits at once, so its child is re-parented to the
  // entrypoint (PID 1); once that grandchild exits it must not stay a zombie.
  const std::string script = R"PY(
import os, time
pid = os.fork()
if pid == 0:
    if os.fork() == 0:
        time.sleep(0.2)
        os._exit(0)
    os._exit(0)
os.waitpid(pid, 0)
time.sleep(1.0)
zombies = []
for entry in os.listdir('/proc'):
    if entry.isdigit():
        try:
            with open('/proc/%s/stat' % entry) as f:
                fields = f.read().rsplit(')', 1)[1].split()
            if fields[0] == 'Z':
                zombies.append(entry)
        except OSError:
            pass
print('zombies=%d' % len(zombies))
)PY";
  RunOptions opt;
  opt.args = view_args({"--", "python3", "-c", script});
  RunResult r = run_entrypoint(opt);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "zombies=0\n");
}

TEST_F(EntrypointTest, OrphanedGrandchildIsReparentedToTheEntrypoint) {
  RunResult r = run_shell("(sleep 0.5 & echo $! > /tmp/orphan) ; sleep 0.2; grep PPid /proc/$(cat /tmp/orphan)/status");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // PID 1 (the entrypoint) is hidden by hidepid=2, but the PPid field shows it.
  EXPECT_EQ(r.out, "PPid:\t1\n");
}

void signal_reaches_command(int sig, int expected_code) {
  const std::string script =
      "import os, signal, time\n"
      "def handler(signum, frame):\n"
      // os.write/_exit: the signal may land while print() still holds stdout.
      "    os.write(1, b'got %d\\n' % signum)\n"
      "    os._exit(" + std::to_string(expected_code) + ")\n"
      "signal.signal(" + std::to_string(sig) + ", handler)\n"
      "print('ready', flush=True)\n"
      "time.sleep(30)\n";
  char templ[] = "/tmp/awf-ep-sig.XXXXXX";
  ASSERT_NE(mkdtemp(templ), nullptr);
  chmod(templ, 0755);
  RunOptions opt;
  opt.args = {"--home", std::string(templ), "--workspace", templ, "--quiet", "--", "python3", "-c", script};
  // The signal is sent once "ready" is out, then again every second (at most
  // five times) while the command has not reported it: a first signal was
  // seen lost once under ASan in CI, and a retry keeps the test about
  // forwarding, not timing. The command still has to report exactly once.
  std::atomic<bool> sent{false}, got{false};
  std::thread sender;
  opt.on_output = [&](const std::string& out, pid_t pid) {
    if (out.find("got ") != std::string::npos) got = true;
    if (!sent && out.find("ready\n") != std::string::npos) {
      sent = true;
      sender = std::thread([pid, sig, &got] {
        for (int i = 0; i < 5 && !got; ++i) {
          kill(pid, sig);
          for (int t = 0; t < 10 && !got; ++t) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      });
    }
  };
  RunResult r = run_entrypoint(opt);
  got = true;
  if (sender.joinable()) sender.join();
  // The workspace is the home here: nothing may have been created in it.
  EXPECT_EQ(rmdir(templ), 0) << "files were created in the host directory " << templ;
  EXPECT_TRUE(sent);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.out, "ready\ngot " + std::to_string(sig) + "\n") << r.err;
  EXPECT_EQ(r.exit_code, expected_code) << r.err;
}

TEST_F(EntrypointTest, SigtermIsForwardedToTheCommand) { signal_reaches_command(SIGTERM, 7); }
TEST_F(EntrypointTest, Sigusr1IsForwardedToTheCommand) { signal_reaches_command(SIGUSR1, 8); }
TEST_F(EntrypointTest, SighupIsForwardedToTheCommand) { signal_reaches_command(SIGHUP, 9); }

TEST_F(EntrypointTest, UnhandledSigtermKillsTheCommandAndGives143) {
  RunOptions opt;
  opt.args = view_args({"--", "python3", "-c", "import time; print('ready', flush=True); time.sleep(30)"});
  opt.on_output = [sent = false](const std::string& out, pid_t pid) mutable {
    if (!sent && out.find("ready") != std::string::npos) sent = kill(pid, SIGTERM) == 0;
  };
  RunResult r = run_entrypoint(opt);
  EXPECT_EQ(r.exit_code, 143) << r.err;
}

TEST_F(EntrypointTest, WorkspaceThatIsTheHomeStaysUntouchedAndItsSecretsMasked) {
  write_file(home_ + "/.docker/config.json", "SECRET\n");
  write_file(home_ + "/notes.txt", "mine\n");
  fs::permissions(home_, fs::perms::all);
  RunOptions opt;
  opt.args = {"--home", home_, "--workspace", home_, "--tmp", tmp_, "--quiet", "--",
              "cat ~/.docker/config.json; cat ~/notes.txt"};
  RunResult r = run_entrypoint(opt);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "mine\n");
  std::vector<std::string> entries;
  for (const auto& e : fs::recursive_directory_iterator(home_)) entries.push_back(e.path().string().substr(home_.size()));
  std::sort(entries.begin(), entries.end());
  EXPECT_EQ(entries, (std::vector<std::string>{"/.docker", "/.docker/config.json", "/notes.txt"}));
}

TEST_F(EntrypointTest, WorksInsideAUserNamespace) {
  // Rootless: the entrypoint is root only inside a user namespace; the
  // command's UID 1000 inside is kUserNsBase + 1000 outside.
  RunOptions opt;
  opt.user_namespace = true;
  opt.args = view_args({"--", "id -u; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status;"
                              "cat /proc/self/uid_map; touch /usr/x 2>/dev/null; echo usr=$?; echo hi > /tmp/f && cat /tmp/f"});
  RunResult r = run_entrypoint(opt);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "1000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n"
            "         0     100000      65536\nusr=1\nhi\n");
  struct stat st;
  ASSERT_EQ(stat((tmp_ + "/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kUserNsBase + 1000);
}

TEST_F(EntrypointTest, EnvironmentIsFilteredAndPathRebuilt) {
  RunResult r = run_shell("echo \"$PATH\"; echo \"${GITHUB_TOKEN-unset} ${SUDO_USER-unset} ${HTTP_PROXY}\";"
                          "git config --get safe.directory",
                          {"--host-path", "/usr/bin:/bin"},
                          {{"GITHUB_TOKEN", "ghp_secret"}, {"SUDO_USER", "admin"},
                           {"HTTP_PROXY", "http://127.0.0.1:3128"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, home_ + "/.npm-global/bin:/usr/bin:/bin\nunset unset http://127.0.0.1:3128\n*\n");
}

TEST_F(EntrypointTest, DnsServersGoToTheSandboxResolvConfOnly) {
  std::string before;
  {
    std::ifstream in("/etc/resolv.conf");
    before.assign(std::istreambuf_iterator<char>(in), {});
  }
  RunResult r = run_shell("cat /etc/resolv.conf", {"--dns", "127.0.0.1,::1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "# Generated by awf-entrypoint\nnameserver 127.0.0.1\nnameserver ::1\noptions ndots:0\n");
  std::ifstream in("/etc/resolv.conf");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), before);
}

TEST_F(EntrypointTest, ExtraMountsHonourTheirMode) {
  fs::create_directories(base_ + "/data-ro");
  fs::create_directories(base_ + "/data-rw");
  fs::permissions(base_ + "/data-rw", fs::perms::all);
  write_file(base_ + "/data-ro/file", "content\n");
  RunResult r = run_shell("cat /data/ro/file; touch /data/ro/x 2>/dev/null; echo ro=$?; touch /data/rw/x; echo rw=$?",
                          {"--mount", base_ + "/data-ro:/data/ro:ro", "--mount", base_ + "/data-rw:/data/rw"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "content\nro=1\nrw=0\n");
  EXPECT_TRUE(fs::exists(base_ + "/data-rw/x"));
}

TEST_F(EntrypointTest, MissingWorkdirWarnsAndUsesRoot) {
  RunOptions opt;
  opt.args = {"--home", home_, "--workspace", workspace_, "--workdir", "/nonexistent/dir", "--", "pwd"};
  RunResult r = run_entrypoint(opt);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "/\n");
  EXPECT_NE(r.err.find("[entrypoint][WARN] Working directory /nonexistent/dir does not exist on host, will use /"),
            std::string::npos)
      << r.err;
}

TEST_F(EntrypointTest, UidZeroIsRefused) {
  RunOptions opt;
  opt.args = view_args({"--", "true"});
  opt.env = {{"AWF_USER_UID", "0"}};
  RunResult r = run_entrypoint(opt);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "[entrypoint][ERROR] Invalid AWF_USER_UID: cannot be 0 (root)\n");
}

TEST_F(EntrypointTest, NonNumericUidIsRefused) {
  RunOptions opt;
  opt.args = view_args({"--uid", "runner", "--", "true"});
  RunResult r = run_entrypoint(opt);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "[entrypoint][ERROR] Invalid --uid: must be numeric (got \"runner\")\n");
}

TEST_F(EntrypointTest, MissingMountSourceIsRefused) {
  RunOptions opt;
  opt.args = view_args({"--mount", "/nonexistent-awf-src:/data:ro", "--", "true"});
  RunResult r = run_entrypoint(opt);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "[entrypoint][ERROR] Invalid volume mount: /nonexistent-awf-src:/data:ro\n"
            "[entrypoint][ERROR] Reason: host path does not exist: /nonexistent-awf-src\n");
}

TEST_F(EntrypointTest, UnknownFlagIsAUsageError) {
  RunOptions opt;
  opt.args = {"--no-such-flag", "--", "true"};
  RunResult r = run_entrypoint(opt);
  EXPECT_EQ(r.exit_code, 1);
}

TEST_F(EntrypointTest, HelpDocumentsFlagsAndExitCodes) {
  RunOptions opt;
  opt.args = {"--help"};
  opt.new_namespaces = false;
  RunResult r = run_entrypoint(opt);
  EXPECT_EQ(r.exit_code, 0);
  for (const char* text : {"--chroot", "--uid", "--exact-ids", "--mount", "--dns", "AWF_USER_UID", "128+N"}) {
    EXPECT_NE(r.out.find(text), std::string::npos) << text;
  }
}

// --chroot: a root prepared by someone else (here: the test, in the
// entrypoint's mount namespace before exec), like awf's /host.
class ChrootTest : public EntrypointTest {
 protected:
  // usr bound read-only, usr-merged links, a writable etc with copies of
  // passwd/group and no resolv.conf, a tmp.
  std::function<bool()> prepare_root() {
    root_ = base_ + "/host";
    for (const char* d : {"/usr", "/etc", "/tmp", "/dev", "/proc", "/sys"}) fs::create_directories(root_ + d);
    fs::permissions(root_ + "/tmp", fs::perms::all | fs::perms::sticky_bit);
    for (const char* link : {"bin", "sbin", "lib", "lib64"}) {
      std::error_code ec;
      fs::create_symlink(std::string("usr/") + link, root_ + "/" + link, ec);
    }
    write_file(root_ + "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
    write_file(root_ + "/etc/group", "root:x:0:\n");
    const std::string root = root_;
    return [root] {
      return mount("/usr", (root + "/usr").c_str(), nullptr, MS_BIND | MS_REC, nullptr) == 0 &&
             mount(nullptr, (root + "/usr").c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) == 0 &&
             mount("/dev", (root + "/dev").c_str(), nullptr, MS_BIND | MS_REC, nullptr) == 0;
    };
  }
  std::string root_;
};

TEST_F(ChrootTest, PreparedRootIsUsedAndRestoredAfterwards) {
  RunOptions opt;
  opt.prepare = prepare_root();
  opt.args = {"--chroot", root_, "--uid", "4321", "--gid", "4321", "--home", "/tmp", "--dns", "127.0.0.1",
              "--quiet", "--", "id -un; cat /etc/resolv.conf; grep -c . /etc/passwd; "
              "grep CapEff /proc/self/status; ls /etc; touch /usr/x 2>/dev/null; echo usr=$?; pwd"};
  RunResult r = run_entrypoint(opt);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "runner\n"
            "# Generated by awf-entrypoint\nnameserver 127.0.0.1\noptions ndots:0\n"
            "2\n"
            "CapEff:\t0000000000000000\n"
            "group\npasswd\nresolv.conf\n"
            "usr=1\n"
            "/tmp\n");
  // The files we overlaid are untouched and the one we created is gone.
  std::ifstream passwd(root_ + "/etc/passwd");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(passwd), {}), "root:x:0:0:root:/root:/bin/bash\n");
  EXPECT_FALSE(fs::exists(root_ + "/etc/resolv.conf"));
}

TEST_F(ChrootTest, ChrootEnabledEnvironmentNeedsTheHostDirectory) {
  RunOptions opt;
  opt.args = {"--quiet", "--", "true"};
  opt.env = {{"AWF_CHROOT_ENABLED", "true"}};
  RunResult r = run_entrypoint(opt);
  if (fs::exists("/host")) GTEST_SKIP() << "/host exists here";
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "[entrypoint][ERROR] Chroot directory /host does not exist or is not a directory\n");
}

TEST_F(ChrootTest, CredentialFilesInAPreparedRootAreMasked) {
  auto prepare = prepare_root();
  write_file(root_ + "/home/u/.docker/config.json", "SECRET\n");
  fs::permissions(root_ + "/home/u", fs::perms::all);
  RunOptions opt;
  opt.prepare = prepare;
  opt.args = {"--chroot", root_, "--home", "/home/u", "--quiet", "--", "cat /home/u/.docker/config.json; echo rc=$?"};
  RunResult r = run_entrypoint(opt);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "rc=0\n");
  std::ifstream in(root_ + "/home/u/.docker/config.json");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "SECRET\n");
}

}  // namespace
