// Checks the tree `cmake --install` produces, which is what the images copy:
// the three programs, their man pages and the example config; each image's
// component holds what its Dockerfile uses; awf-proxy starts with the image's
// and compose's command lines (as UID 13, in a network namespace of its own);
// awf-entrypoint runs as PID 1 of new PID+mount namespaces in a root laid out
// like the agent image, as the compose service runs it.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <csignal>
#include <regex>
#include <thread>
#include <yaml-cpp/yaml.h>

#include "docker_support.h"

namespace awf::docker_test {
namespace {

const char* const kPrograms[] = {"awf", "awf-proxy", "awf-entrypoint"};

bool is_executable(const fs::path& p) { return access(p.c_str(), X_OK) == 0 && fs::is_regular_file(p); }

class InstallTree : public ::testing::Test {
 protected:
  void SetUp() override {
    Outcome o = install_tree(prefix_.path());
    ASSERT_EQ(o.exit_code, 0) << "cmake --install failed: " << o.describe();
    // Readable by the image's unprivileged users, like the image's /usr/local.
    fs::permissions(prefix(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                  fs::perms::others_read | fs::perms::others_exec);
  }
  fs::path prefix() const { return prefix_.path(); }

 private:
  TempDir prefix_{"awf-docker-install"};
};

TEST_F(InstallTree, HoldsTheThreeProgramsTheirManPagesAndTheExampleConfig) {
  for (const char* prog : kPrograms) {
    EXPECT_TRUE(is_executable(prefix() / "bin" / prog)) << prog;
    EXPECT_TRUE(fs::is_regular_file(prefix() / "share/man/man1" / (std::string(prog) + ".1"))) << prog;
  }
  EXPECT_TRUE(fs::is_regular_file(prefix() / "share/awf/proxy.example.yaml"));
}

TEST_F(InstallTree, ManPagesAreEachProgramsHelpUnderItsName) {
  for (const char* prog : kPrograms) {
    // The page's text with roff's escapes undone (\- minus, \e backslash, \& nothing).
    std::string page = read_text(prefix() / "share/man/man1" / (std::string(prog) + ".1"));
    page = std::regex_replace(page, std::regex(R"(\\-)"), "-");
    page = std::regex_replace(page, std::regex(R"(\\&)"), "");
    page = std::regex_replace(page, std::regex(R"(\\e)"), "\\");
    Outcome help = run({(prefix() / "bin" / prog).string(), "--help"});
    ASSERT_EQ(help.exit_code, 0) << help.describe();
    std::string title = prog;
    for (auto& c : title) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(page.rfind(".TH " + title + " 1 ", 0), 0u) << page.substr(0, 200);
    EXPECT_TRUE(contains(page, "\n.SH NAME\n" + std::string(prog) + " - ")) << prog;
    EXPECT_TRUE(contains(page, "Usage: " + std::string(prog) + " ")) << prog << ": usage should name the program";
    EXPECT_FALSE(contains(page, build_dir().string())) << prog << ": the build path leaked into the page";
    // Every option of the help is in the page.
    std::regex option("--[a-z][a-z0-9-]+");
    for (auto it = std::sregex_iterator(help.out.begin(), help.out.end(), option); it != std::sregex_iterator(); ++it) {
      EXPECT_TRUE(contains(page, it->str())) << prog << ": " << it->str();
    }
  }
}

TEST_F(InstallTree, ProxyPrintsItsVersion) {
  Outcome o = run({(prefix() / "bin/awf-proxy").string(), "--version"});
  EXPECT_EQ(o.exit_code, 0) << o.describe();
  EXPECT_TRUE(std::regex_search(o.out, std::regex("^awf-proxy [0-9]+\\.[0-9]+\\.[0-9]+"))) << o.out;
}

TEST(ImageComponents, EachInstallsWhatItsDockerfileCopiesAndRuns) {
  for (const fs::path& path : {proxy_dockerfile(), agent_dockerfile()}) {
    Dockerfile df = parse_dockerfile(path);
    const std::string component = component_of(df);
    ASSERT_FALSE(component.empty()) << path;
    TempDir prefix("awf-docker-component");
    Outcome o = install_tree(prefix.path(), component);
    ASSERT_EQ(o.exit_code, 0) << o.describe();
    for (const auto& i : df.in_stage(df.last_stage(), "COPY")) {
      auto words = split_words(i.args);
      if (words.size() == 3 && words[0].rfind("--from=", 0) == 0) {
        EXPECT_TRUE(fs::exists(prefix.path() / words[1].substr(std::string("/install/").size())))
            << path.filename().string() << ":" << i.line << ": component " << component << " lacks " << words[1];
      }
    }
    std::vector<std::vector<std::string>> commands;
    for (const char* keyword : {"ENTRYPOINT", "CMD"}) {
      for (const auto& i : df.in_stage(df.last_stage(), keyword)) {
        if (auto argv = exec_form(i.args)) commands.push_back(*argv);
      }
    }
    if (path == proxy_dockerfile()) commands.push_back(proxy_health_check_command());
    for (const auto& argv : commands) {
      if (argv.empty() || argv[0].rfind("/usr/local/", 0) != 0) continue;  // CMD arguments, /bin/bash
      fs::path source = install_source_of(df, prefix.path(), argv[0]);
      EXPECT_TRUE(is_executable(source)) << path.filename().string() << " runs " << argv[0]
                                         << ", which component " << component << " does not install";
    }
    // One program per image: the other programs stay out.
    std::vector<std::string> bins;
    for (const auto& e : fs::directory_iterator(prefix.path() / "bin")) bins.push_back(e.path().filename());
    EXPECT_EQ(bins.size(), 1u) << path.filename().string();
  }
}

#ifdef AWF_STATIC_ENTRYPOINT_BUILD
// Only in builds configured with -DAWF_STATIC_ENTRYPOINT=ON (an entrypoint
// for images whose glibc is older than Debian 12's).
TEST_F(InstallTree, EntrypointIsStaticWhenBuiltLikeTheAgentImage) {
  AWF_REQUIRE_FACILITY(find_program("readelf"), "readelf (binutils)");
  const std::string binary = (prefix() / "bin/awf-entrypoint").string();
  Outcome elf = run({"readelf", "--dynamic", binary});
  EXPECT_TRUE(contains(elf.out, "There is no dynamic section")) << "an older glibc cannot run a Debian 12 binary "
                                                                  "linked dynamically:\n"
                                                               << elf.describe();
  Outcome help = run({binary, "--help"});
  EXPECT_EQ(help.exit_code, 0) << help.describe();
}
#endif

// ---- awf-proxy with the image's command lines ----

// Runs the image command (argv[0] already mapped to the install tree) as UID
// 13 in a fresh network namespace, waits for "ready", then SIGTERMs it.
void expect_proxy_starts_and_drains(const std::vector<std::string>& argv, const fs::path& log_dir) {
  Background proxy(as_proxy_user_in_new_netns(argv));
  wait_until_ready(proxy, 15);
  ASSERT_TRUE(proxy.alive()) << "awf-proxy stopped at startup: " << proxy.stop(SIGKILL).describe();
  ASSERT_TRUE(contains(proxy.err_so_far(), "ready")) << proxy.stop(SIGKILL).describe();
  Outcome o = proxy.stop(SIGTERM);
  EXPECT_EQ(o.exit_code, 0) << "SIGTERM should drain and exit 0: " << o.describe();
  EXPECT_TRUE(fs::exists(log_dir / "access.log")) << o.describe();
  EXPECT_TRUE(fs::exists(log_dir / "audit.jsonl")) << o.describe();
}

TEST_F(InstallTree, ProxyStartsWithTheImagesCommandLineAndExampleConfig) {
  AWF_REQUIRE_FACILITY(can_use_network_namespaces(), "unshare --net, ip and setpriv");
  TempDir logs("awf-docker-logs");
  ASSERT_EQ(chown(logs.path().c_str(), 13, 13), 0);
  auto argv = map_proxy_image_paths(proxy_image_command(), prefix(), logs.path());
  ASSERT_TRUE(is_executable(argv.at(0))) << argv[0];
  ASSERT_TRUE(contains(std::string(argv.back()), "proxy.example.yaml")) << "the default CMD should name the example";
  expect_proxy_starts_and_drains(argv, logs.path());
}

TEST_F(InstallTree, ProxyStartsWithComposesCommandLine) {
  AWF_REQUIRE_FACILITY(can_use_network_namespaces(), "unshare --net, ip and setpriv");
  TempDir logs("awf-docker-logs");
  ASSERT_EQ(chown(logs.path().c_str(), 13, 13), 0);
  // The image's ENTRYPOINT, then compose's command in place of CMD.
  Dockerfile df = parse_dockerfile(proxy_dockerfile());
  auto argv = exec_form(df.in_stage(df.last_stage(), "ENTRYPOINT").back().args).value();
  YAML::Node compose = YAML::LoadFile(compose_file().string());
  const std::map<std::string, std::string> env{{"AWF_ALLOW_DOMAINS", "github.com,*.githubusercontent.com"}};
  for (const auto& w : compose["services"]["squid-proxy"]["command"]) argv.push_back(interpolate(w.as<std::string>(), env));
  expect_proxy_starts_and_drains(map_proxy_image_paths(argv, prefix(), logs.path()), logs.path());
}

// ---- awf-entrypoint in the agent image's layout ----

// Runs in new PID and mount namespaces (unshare --pid --fork --mount, private
// propagation: nothing here reaches the host's mount table), builds the
// image's root in $1 from the host's system directories, the entrypoint
// component's install tree at /usr/local (the image's COPY) and the docker
// stub over /usr/bin (a read-only overlay, when the kernel has one), then
// execs chroot + env + the entrypoint, which stays PID 1. With $5 = host, the
// root also gets awf's /host view of the host's system directories (the
// layout awf's own compose file mounts for AWF_CHROOT_ENABLED=true).
constexpr const char* kAgentLayoutScript = R"SH(set -eu
root=$1 local=$2 stub=$3 workdir=$4 host=$5; shift 5
# A container's / is a mount point (the entrypoint makes it private).
mount --bind "$root" "$root"
system_dirs() {
  for d in usr bin sbin lib lib32 lib64 libx32 opt; do
    if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$1/$d"
    elif [ -d "/$d" ]; then
      mkdir -p "$1/$d"; mount --rbind "/$d" "$1/$d"; mount -o remount,bind,ro "$1/$d"
    fi
  done
  mount --rbind /dev "$1/dev"
  mount --rbind /sys "$1/sys"
}
system_dirs "$root"
mount --bind "$local" "$root/usr/local"; mount -o remount,bind,ro "$root/usr/local"
if mount -t overlay overlay -o "lowerdir=$stub:/usr/bin" "$root/usr/bin" 2>/dev/null; then
  echo "layout: docker stub at /usr/bin/docker"
fi
mount -t proc proc "$root/proc"
if [ "$host" = host ]; then system_dirs "$root/host"; fi
exec chroot "$root" /usr/bin/env -i -C "$workdir" "$@"
)SH";

bool can_use_pid_namespaces() {
  if (!find_program("unshare") || !find_program("chroot")) return false;
  return run({"unshare", "--pid", "--fork", "--mount", "--", "/bin/sh", "-c", "mount -t tmpfs none /mnt && test $$ = 1"},
             within_seconds(10))
             .exit_code == 0;
}

// A container's own files under `root`: awfuser (1000) from the image's
// useradd, the working directory, and what a container's /etc holds.
void write_root_files(const fs::path& root, const std::string& workdir) {
  for (const char* dir : {"etc", "tmp", "proc", "dev", "sys", "root", "home/awfuser"}) fs::create_directories(root / dir);
  fs::create_directories(root / workdir.substr(1));
  fs::permissions(root / "tmp", fs::perms::all | fs::perms::sticky_bit);
  ASSERT_EQ(chown((root / "home/awfuser").c_str(), 1000, 1000), 0);
  ASSERT_EQ(chown((root / workdir.substr(1)).c_str(), 1000, 1000), 0);
  write_text(root / "etc/passwd",
             "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
             "awfuser:x:1000:1000::/home/awfuser:/bin/bash\n");
  write_text(root / "etc/group", "root:x:0:\nnogroup:x:65534:\nawfuser:x:1000:\n");
  write_text(root / "etc/hosts", "127.0.0.1 localhost\n");
  for (const char* file : {"resolv.conf", "nsswitch.conf", "ld.so.cache"}) {
    std::error_code ec;
    fs::copy_file(fs::path("/etc") / file, root / "etc" / file, ec);
  }
}

// Runs compose's agent service the way Docker would, in the layout above:
// the image's ENTRYPOINT, ENV and WORKDIR, compose's environment plus `extra`,
// and compose's command with AWF_COMMAND set to a probe that prints the
// command's IDs, its parent and NoNewPrivs, tries docker and /usr, and exits 42.
void run_agent_service(bool host_view, const std::map<std::string, std::string>& extra, Outcome* result) {
  Dockerfile df = parse_dockerfile(agent_dockerfile());
  const int last = df.last_stage();
  TempDir work("awf-docker-agent");
  const fs::path root = work.path() / "root";
  const fs::path local = work.path() / "local";
  const fs::path stub = work.path() / "stub";
  // AWF_AGENT_BUILD_DIR: take the entrypoint from another build, e.g. one
  // configured like the image with -DAWF_STATIC_ENTRYPOINT=ON.
  const char* agent_build = std::getenv("AWF_AGENT_BUILD_DIR");
  Outcome o = install_tree(local, component_of(df), agent_build ? fs::path(agent_build) : build_dir());
  ASSERT_EQ(o.exit_code, 0) << o.describe();
  fs::create_directories(stub);
  fs::copy_file(source_dir() / "docker/docker-stub.sh", stub / "docker");

  std::string workdir = "/";
  if (auto w = df.in_stage(last, "WORKDIR"); !w.empty()) workdir = w.back().args;
  write_root_files(root, workdir);
  if (host_view) write_root_files(root / "host", workdir);

  // Docker's PATH and HOME, the image's ENV, compose's environment.
  std::vector<std::string> env_words{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                     "HOME=/root", "HOSTNAME=awf-agent"};
  for (const auto& i : df.in_stage(last, "ENV")) {
    for (const auto& w : split_words(i.args)) env_words.push_back(w);
  }
  YAML::Node agent = YAML::LoadFile(compose_file().string())["services"]["agent"];
  const std::string command =
      "echo \"uid=$(id -u) gid=$(id -g) ppid=$PPID\"; grep NoNewPrivs /proc/self/status; "
      "if [ -e /usr/bin/docker ]; then docker ps; echo \"docker=$?\"; fi; "
      "touch /usr/awf-write-test 2>/dev/null && echo usr-writable; exit 42";
  const std::map<std::string, std::string> compose_env{{"AWF_COMMAND", command}};
  for (const auto& kv : agent["environment"]) {
    env_words.push_back(kv.first.as<std::string>() + "=" + interpolate(kv.second.as<std::string>(), compose_env));
  }
  for (const auto& [k, v] : extra) env_words.push_back(k + "=" + v);
  auto entrypoint = exec_form(df.in_stage(last, "ENTRYPOINT").back().args).value();

  std::vector<std::string> argv{"unshare", "--pid", "--fork", "--mount", "--propagation", "private", "--",
                                "/bin/sh",  "-c",    kAgentLayoutScript, "sh", root.string(), local.string(),
                                stub.string(), workdir, host_view ? "host" : ""};
  argv.insert(argv.end(), env_words.begin(), env_words.end());
  argv.insert(argv.end(), entrypoint.begin(), entrypoint.end());
  for (const auto& w : agent["command"]) argv.push_back(interpolate(w.as<std::string>(), compose_env));
  *result = run(argv, within_seconds(60));
}

void expect_probe_results(const Outcome& o) {
  EXPECT_EQ(o.exit_code, 42) << o.describe();
  EXPECT_TRUE(contains(o.out, "uid=1000 gid=1000 ppid=1\n")) << "the command's parent must be the entrypoint as PID 1\n"
                                                             << o.describe();
  EXPECT_TRUE(std::regex_search(o.out, std::regex("NoNewPrivs:\\s+1\n"))) << o.describe();
  EXPECT_FALSE(contains(o.out, "usr-writable")) << o.describe();
}

TEST(AgentLayout, EntrypointRunsAsPid1AndTheCommandAsAwfuserWithNoNewPrivs) {
  AWF_REQUIRE_FACILITY(getuid() == 0, "root");
  AWF_REQUIRE_FACILITY(can_use_pid_namespaces(), "unshare --pid --fork --mount and chroot");
  Outcome o;
  run_agent_service(/*host_view=*/false, {}, &o);
  if (HasFatalFailure()) return;
  expect_probe_results(o);
  if (contains(o.out, "layout: docker stub")) {
    EXPECT_TRUE(contains(o.out, "docker=127")) << o.describe();
    EXPECT_TRUE(contains(o.err, "Docker-in-Docker support was removed")) << o.describe();
  }
}

TEST(AgentLayout, EntrypointRunsTheCommandInAwfsHostViewWhenChrootIsEnabled) {
  AWF_REQUIRE_FACILITY(getuid() == 0, "root");
  AWF_REQUIRE_FACILITY(can_use_pid_namespaces(), "unshare --pid --fork --mount and chroot");
  Outcome o;
  run_agent_service(/*host_view=*/true, {{"AWF_CHROOT_ENABLED", "true"}}, &o);
  if (HasFatalFailure()) return;
  expect_probe_results(o);
  // The image's stub stays outside /host: /usr/bin/docker there is the
  // host's own, absent or a real CLI (scripts/install-deps.sh installs
  // docker.io for the engine test).
  EXPECT_FALSE(contains(o.err, "Docker-in-Docker support was removed")) << o.describe();
  EXPECT_EQ(contains(o.out, "docker="), fs::exists("/usr/bin/docker")) << o.describe();
}

}  // namespace
}  // namespace awf::docker_test
