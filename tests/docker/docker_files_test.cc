// Checks docker/ without a Docker engine: the Dockerfiles' sources, CMake
// targets, components and cache options exist; the proxy image's packages
// match what awf-proxy links and its flags are awf-proxy's; compose.yaml has
// awf's topology and takes the policy from the environment.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <regex>
#include <set>
#include <sstream>

#include "docker_support.h"

namespace awf::docker_test {
namespace {

const std::vector<fs::path>& dockerfiles() {
  static const std::vector<fs::path> files = {proxy_dockerfile(), agent_dockerfile()};
  return files;
}

// Every `cmake ...` word list of the RUN instructions of a Dockerfile.
std::vector<std::string> run_words(const Dockerfile& df) {
  std::vector<std::string> words;
  for (const auto& i : df.instructions) {
    if (i.keyword != "RUN") continue;
    auto w = split_words(i.args);
    words.insert(words.end(), w.begin(), w.end());
  }
  return words;
}

// A COPY/ADD: its options and its sources (the last word is the destination).
struct Copy {
  std::string from;  // --from=stage, empty for the build context
  std::vector<std::string> sources;
  std::string destination;
  int line = 0;
};

std::vector<Copy> copies(const Dockerfile& df) {
  std::vector<Copy> out;
  for (const auto& i : df.instructions) {
    if (i.keyword != "COPY" && i.keyword != "ADD") continue;
    Copy c;
    c.line = i.line;
    std::vector<std::string> rest;
    for (const auto& w : split_words(i.args)) {
      if (w.rfind("--from=", 0) == 0) c.from = w.substr(7);
      else if (w.rfind("--", 0) != 0) rest.push_back(w);
    }
    if (rest.empty()) continue;
    c.destination = rest.back();
    rest.pop_back();
    c.sources = rest;
    out.push_back(c);
  }
  return out;
}

std::string help_of(const std::string& program) {
  Outcome o = run({(bin_dir() / program).string(), "--help"});
  EXPECT_EQ(o.exit_code, 0) << o.describe();
  return o.out;
}

// The stage that takes prebuilt programs from a build context holding an
// install tree (scripts/docker-images.sh), not the repository.
constexpr const char* kPrebuiltStage = "build-prebuilt";

int stage_named(const Dockerfile& df, const std::string& name) {
  auto it = std::find(df.stage_names.begin(), df.stage_names.end(), name);
  return it == df.stage_names.end() ? -1 : static_cast<int>(it - df.stage_names.begin());
}

TEST(Dockerfiles, EveryCopySourceFromTheBuildContextExistsInTheRepository) {
  for (const auto& path : dockerfiles()) {
    Dockerfile df = parse_dockerfile(path);
    ASSERT_FALSE(df.instructions.empty()) << path;
    const int prebuilt = stage_named(df, kPrebuiltStage);
    for (const auto& c : copies(df)) {
      if (!c.from.empty()) continue;
      bool in_prebuilt = false;
      for (const auto& i : df.in_stage(prebuilt, "COPY")) in_prebuilt = in_prebuilt || i.line == c.line;
      if (in_prebuilt) continue;
      for (const auto& src : c.sources) {
        EXPECT_TRUE(fs::exists(source_dir() / src))
            << path.filename().string() << ":" << c.line << ": COPY source \"" << src
            << "\" is not in the repository (the build context is its root)";
      }
    }
  }
}

TEST(Dockerfiles, EveryCopyFromAnotherStageNamesAStageOfTheSameFile) {
  for (const auto& path : dockerfiles()) {
    Dockerfile df = parse_dockerfile(path);
    for (const auto& c : copies(df)) {
      if (c.from.empty()) continue;
      EXPECT_NE(std::find(df.stage_names.begin(), df.stage_names.end(), c.from), df.stage_names.end())
          << path.filename().string() << ":" << c.line << ": --from=" << c.from << " is not a stage";
      for (const auto& src : c.sources) {
        EXPECT_EQ(src.rfind("/install/", 0), 0u)
            << path.filename().string() << ":" << c.line << ": images copy only the install tree, not " << src;
      }
    }
  }
}

// Both images build either from source or, offline, from an install tree:
// ARG AWF_BINARIES picks the stage `build` is (source by default), ARG BASE
// the Debian 12 image every stage but the install tree's starts from.
TEST(Dockerfiles, BuildFromSourceOrFromAPrebuiltInstallTreeOnTheBaseArg) {
  for (const auto& path : dockerfiles()) {
    const std::string name = path.filename().string();
    Dockerfile df = parse_dockerfile(path);
    EXPECT_EQ(df.global_args["BASE"], "debian:12-slim") << name;
    EXPECT_EQ(df.global_args["AWF_BINARIES"], "source") << name;
    const int source = stage_named(df, "build-source");
    const int prebuilt = stage_named(df, kPrebuiltStage);
    const int build = stage_named(df, "build");
    ASSERT_GE(source, 0) << name << " has no build-source stage";
    ASSERT_GE(prebuilt, 0) << name << " has no " << kPrebuiltStage << " stage";
    ASSERT_GE(build, 0) << name << " has no build stage";
    EXPECT_EQ(df.stage_bases.at(build), "build-source") << name << ": the default must build from source";
    EXPECT_EQ(df.stage_bases.at(prebuilt), "scratch") << name;
    // The prebuilt stage holds the context's install tree and nothing else.
    auto prebuilt_copies = df.in_stage(prebuilt, "COPY");
    ASSERT_EQ(prebuilt_copies.size(), 1u) << name;
    EXPECT_EQ(split_words(prebuilt_copies[0].args), (std::vector<std::string>{"install/", "/install/"})) << name;
    EXPECT_EQ(df.in_stage(prebuilt, "RUN").size(), 0u) << name;
    for (int stage : {source, df.last_stage()}) {
      auto from = df.in_stage(stage, "FROM");
      ASSERT_EQ(from.size(), 1u);
      EXPECT_EQ(split_words(from[0].args).at(0), "${BASE}") << name << ":" << from[0].line;
    }
  }
}

TEST(Dockerfiles, EveryBuildTargetIsACMakeTarget) {
  // CMakeFiles/TargetDirectories.txt lists <dir>/CMakeFiles/<target>.dir for
  // every target of the build, whatever the generator.
  const std::string dirs = read_text(build_dir() / "CMakeFiles" / "TargetDirectories.txt");
  ASSERT_FALSE(dirs.empty()) << "no CMakeFiles/TargetDirectories.txt in " << build_dir();
  for (const auto& path : dockerfiles()) {
    auto targets = values_of(run_words(parse_dockerfile(path)), "--target");
    ASSERT_FALSE(targets.empty()) << path << " builds no --target";
    for (const auto& t : targets) {
      EXPECT_TRUE(contains(dirs, "/CMakeFiles/" + t + ".dir\n"))
          << path.filename().string() << ": --target " << t << " is not a CMake target";
    }
  }
}

TEST(Dockerfiles, EveryInstallComponentIsACMakeComponent) {
  const std::string script = read_text(build_dir() / "cmake_install.cmake");
  ASSERT_FALSE(script.empty());
  for (const auto& path : dockerfiles()) {
    auto components = values_of(run_words(parse_dockerfile(path)), "--component");
    ASSERT_EQ(components.size(), 1u) << path << " should install exactly one component";
    EXPECT_TRUE(contains(script, "CMAKE_INSTALL_COMPONENT STREQUAL \"" + components[0] + "\""))
        << path.filename().string() << ": --component " << components[0] << " has no install rule";
  }
}

TEST(Dockerfiles, EveryCacheOptionTheyPassIsKnownToTheBuild) {
  const std::string cache = read_text(build_dir() / "CMakeCache.txt");
  ASSERT_FALSE(cache.empty());
  for (const auto& path : dockerfiles()) {
    for (const auto& w : run_words(parse_dockerfile(path))) {
      if (w.rfind("-D", 0) != 0 || w.find('=') == std::string::npos) continue;
      std::string name = w.substr(2, w.find('=') - 2);
      EXPECT_TRUE(std::regex_search(cache, std::regex("(^|\n)" + name + ":[A-Z]+=")))
          << path.filename().string() << ": -D" << name << " is not a cache variable of this project";
    }
  }
}

TEST(Dockerfiles, EachHasAnIgnoreFileKeepingBuildTreesOutOfTheContext) {
  for (const auto& path : dockerfiles()) {
    fs::path ignore = path;
    ignore += ".dockerignore";
    ASSERT_TRUE(fs::exists(ignore)) << ignore << " missing: COPY . . would send every build directory";
    auto lines = split_words(read_text(ignore));
    for (const char* needed : {".git", "build", "build-*"}) {
      EXPECT_NE(std::find(lines.begin(), lines.end(), needed), lines.end()) << ignore << " lacks " << needed;
    }
  }
}

TEST(ProxyImage, RunsAsUid13ProxyWithAwfsPortAndLogDirectory) {
  Dockerfile df = parse_dockerfile(proxy_dockerfile());
  const int last = df.last_stage();
  EXPECT_EQ(df.stage_bases.at(last), "debian:12-slim");
  auto user = df.in_stage(last, "USER");
  ASSERT_FALSE(user.empty());
  EXPECT_EQ(split_words(user.back().args).at(0).substr(0, 5), "proxy");
  std::string runs;
  for (const auto& i : df.in_stage(last, "RUN")) runs += i.args + "\n";
  EXPECT_TRUE(contains(runs, "-u 13")) << "the proxy user must be UID 13 like awf's Squid image";
  EXPECT_TRUE(contains(runs, "/var/log/squid"));
  auto expose = df.in_stage(last, "EXPOSE");
  ASSERT_FALSE(expose.empty());
  EXPECT_EQ(expose.back().args, "3128");
  auto argv = proxy_image_command();
  EXPECT_EQ(values_of(argv, "--log-dir"), std::vector<std::string>{"/var/log/squid"});
  for (const auto& l : values_of(argv, "--listen")) EXPECT_TRUE(l.ends_with(":3128")) << l;
}

TEST(ProxyImage, CommandLineUsesOnlyAwfProxyOptions) {
  const std::string help = help_of("awf-proxy");
  auto argv = proxy_image_command();
  ASSERT_GE(argv.size(), 2u);
  EXPECT_EQ(argv[0], "/usr/local/bin/awf-proxy");
  for (size_t i = 1; i < argv.size(); ++i) {
    if (argv[i].rfind("--", 0) != 0) continue;
    std::string flag = argv[i].substr(0, argv[i].find('='));
    EXPECT_TRUE(contains(help, flag + " ")) << "ENTRYPOINT/CMD pass " << flag << ", not in awf-proxy --help";
  }
}

// Packages that debian:12-slim already holds (apt needs them), so the runtime
// stage does not list them.
const std::set<std::string> kInBaseImage = {"libc6", "libgcc-s1", "libstdc++6"};

// The package owning a library path; dpkg knows each file under the path its
// package ships, and with /lib -> usr/lib that may be either spelling.
std::string owning_package(const std::string& library) {
  std::vector<std::string> candidates{library};
  std::error_code ec;
  std::string real = fs::canonical(library, ec).string();
  if (!ec) candidates.push_back(real);
  for (std::string c : std::vector<std::string>(candidates)) {
    if (c.rfind("/usr/lib/", 0) == 0) candidates.push_back(c.substr(4));
    else if (c.rfind("/lib/", 0) == 0) candidates.push_back("/usr" + c);
  }
  for (const auto& c : candidates) {
    Outcome o = run({"dpkg", "-S", c});
    if (o.exit_code == 0) {
      std::string pkg = o.out.substr(0, o.out.find(':'));
      return pkg;
    }
  }
  return "";
}

// The packages owning the libraries `ldd` lists for a program of this build,
// minus those debian:12-slim holds.
std::set<std::string> linked_packages(const std::string& program) {
  std::set<std::string> needed;
  Outcome ldd = run({"ldd", (bin_dir() / program).string()});
  EXPECT_EQ(ldd.exit_code, 0) << ldd.describe();
  std::istringstream lines(ldd.out);
  for (std::string line; std::getline(lines, line);) {
    auto words = split_words(line);
    std::string lib;
    if (words.size() >= 3 && words[1] == "=>") lib = words[2];
    else if (!words.empty() && words[0].rfind('/', 0) == 0) lib = words[0];
    if (lib.empty()) continue;  // linux-vdso
    std::string pkg = owning_package(lib);
    EXPECT_FALSE(pkg.empty()) << "no Debian package owns " << lib;
    if (!pkg.empty() && !kInBaseImage.count(pkg)) needed.insert(pkg);
  }
  return needed;
}

// The words after `apt-get install` in the final stage's RUN lines, up to the
// end of that command, options dropped (scripts/docker-base.sh reads them the
// same way to fill the offline base).
std::set<std::string> installed_packages(const Dockerfile& df) {
  std::set<std::string> listed;
  for (const auto& i : df.in_stage(df.last_stage(), "RUN")) {
    auto words = split_words(i.args);
    auto install = words.end();
    for (auto w = words.begin(); w != words.end() && w + 1 != words.end(); ++w) {
      if (*w == "apt-get" && *(w + 1) == "install") install = w + 1;
    }
    for (auto w = install; w != words.end(); ++w) {
      if (*w == "&&") break;
      if (w != install && w->rfind("-", 0) != 0) listed.insert(*w);
    }
  }
  return listed;
}

TEST(ProxyImage, RuntimePackagesMatchWhatAwfProxyLinks) {
#ifdef AWF_SANITIZE_BUILD
  GTEST_SKIP() << "a sanitizer build links libasan/libubsan; the image is built without sanitizers";
#endif
  AWF_REQUIRE_FACILITY(find_program("ldd") && find_program("dpkg"), "ldd and dpkg (Debian host)");
  const std::set<std::string> needed = linked_packages("awf-proxy");
  const std::set<std::string> listed = installed_packages(parse_dockerfile(proxy_dockerfile()));
  ASSERT_FALSE(listed.empty()) << "no apt-get install in the runtime stage of docker/proxy.Dockerfile";
  for (const auto& pkg : needed) {
    EXPECT_TRUE(listed.count(pkg)) << "awf-proxy links a library of " << pkg
                                   << ": add it to the apt-get install of docker/proxy.Dockerfile's runtime stage";
  }
  for (const auto& pkg : listed) {
    EXPECT_TRUE(needed.count(pkg)) << "docker/proxy.Dockerfile installs " << pkg
                                   << ", which awf-proxy does not link: remove it";
  }
}

TEST(AgentImage, IsDebian12WithAwfuserTheDockerStubAndTheEntrypoint) {
  Dockerfile df = parse_dockerfile(agent_dockerfile());
  const int last = df.last_stage();
  EXPECT_EQ(df.stage_bases.at(last), "debian:12-slim");
  std::string runs;
  for (const auto& i : df.in_stage(last, "RUN")) runs += i.args + "\n";
  EXPECT_TRUE(std::regex_search(runs, std::regex("useradd [^\n]*awfuser")));
  bool stub = false;
  for (const auto& c : copies(df)) {
    if (c.sources == std::vector<std::string>{"docker/docker-stub.sh"} && c.destination == "/usr/bin/docker") stub = true;
  }
  EXPECT_TRUE(stub) << "the docker stub must replace /usr/bin/docker";
  auto entrypoint = df.in_stage(last, "ENTRYPOINT");
  ASSERT_FALSE(entrypoint.empty());
  EXPECT_EQ(exec_form(entrypoint.back().args).value_or(std::vector<std::string>{}),
            (std::vector<std::string>{"/usr/local/bin/awf-entrypoint", "--"}))
      << "without \"--\", a command such as /bin/bash -c ... would be read as entrypoint options";
}

// The entrypoint the image copies may be linked dynamically (a prebuilt one
// from an ordinary build): the image installs what it links, besides awf's
// agent tools.
TEST(AgentImage, RuntimePackagesCoverWhatAwfEntrypointLinks) {
#ifdef AWF_SANITIZE_BUILD
  GTEST_SKIP() << "a sanitizer build links libasan/libubsan; the image is built without sanitizers";
#endif
  AWF_REQUIRE_FACILITY(find_program("ldd") && find_program("dpkg"), "ldd and dpkg (Debian host)");
  const std::set<std::string> listed = installed_packages(parse_dockerfile(agent_dockerfile()));
  for (const char* tool : {"ca-certificates", "curl", "git", "dnsutils"}) {
    EXPECT_TRUE(listed.count(tool)) << "the agent image lacks awf's agent tool " << tool;
  }
#ifndef AWF_STATIC_ENTRYPOINT_BUILD
  for (const auto& pkg : linked_packages("awf-entrypoint")) {
    EXPECT_TRUE(listed.count(pkg)) << "awf-entrypoint links a library of " << pkg
                                   << ": add it to the apt-get install of docker/agent.Dockerfile's final stage";
  }
#endif
}

// ---- compose.yaml ----

YAML::Node compose() { return YAML::LoadFile(compose_file().string()); }

std::set<std::string> keys_of(const YAML::Node& map) {
  std::set<std::string> out;
  if (map.IsMap()) {
    for (const auto& kv : map) out.insert(kv.first.as<std::string>());
  } else if (map.IsSequence()) {
    for (const auto& item : map) out.insert(item.as<std::string>());
  }
  return out;
}

// A service's environment as a map, from either compose form.
std::map<std::string, std::string> environment_of(const YAML::Node& service) {
  std::map<std::string, std::string> env;
  const YAML::Node e = service["environment"];
  if (e.IsMap()) {
    for (const auto& kv : e) env[kv.first.as<std::string>()] = kv.second.as<std::string>();
  } else if (e.IsSequence()) {
    for (const auto& item : e) {
      std::string kv = item.as<std::string>();
      env[kv.substr(0, kv.find('='))] = kv.find('=') == std::string::npos ? "" : kv.substr(kv.find('=') + 1);
    }
  }
  return env;
}

TEST(ComposeFile, ParsesAndDefinesTheProxyAndTheAgentBuiltFromTheRepository) {
  YAML::Node c;
  ASSERT_NO_THROW(c = compose());
  ASSERT_TRUE(c["services"].IsMap());
  for (const char* name : {"squid-proxy", "agent"}) {
    const YAML::Node s = c["services"][name];
    ASSERT_TRUE(s.IsMap()) << "service " << name << " missing";
    fs::path context = compose_file().parent_path() / s["build"]["context"].as<std::string>();
    EXPECT_TRUE(fs::equivalent(context, source_dir())) << name << ": the build context must be the repository";
    EXPECT_TRUE(fs::exists(context / s["build"]["dockerfile"].as<std::string>())) << name;
  }
}

TEST(ComposeFile, AwfNetIsInternalWithAwfsSubnet) {
  const YAML::Node net = compose()["networks"]["awf-net"];
  ASSERT_TRUE(net.IsMap());
  EXPECT_EQ(net["name"].as<std::string>(""), "awf-net");
  EXPECT_TRUE(net["internal"].as<bool>(false)) << "awf-net must have no route out";
  EXPECT_EQ(net["ipam"]["config"][0]["subnet"].as<std::string>(""), "172.30.0.0/24");
}

TEST(ComposeFile, ProxyIsDualHomedOnAwfNetAndAnExternalNetwork) {
  YAML::Node c = compose();
  const YAML::Node nets = c["services"]["squid-proxy"]["networks"];
  EXPECT_EQ(nets["awf-net"]["ipv4_address"].as<std::string>(""), "172.30.0.10");
  auto names = keys_of(nets);
  ASSERT_EQ(names.size(), 2u) << "the proxy joins awf-net and one network with a route out";
  for (const auto& n : names) {
    if (n == "awf-net") continue;
    EXPECT_FALSE(c["networks"][n]["internal"].as<bool>(false)) << n << " must route out";
  }
}

TEST(ComposeFile, AgentIsOnlyOnTheInternalNetwork) {
  const YAML::Node agent = compose()["services"]["agent"];
  EXPECT_EQ(keys_of(agent["networks"]), std::set<std::string>{"awf-net"});
  EXPECT_EQ(agent["networks"]["awf-net"]["ipv4_address"].as<std::string>(""), "172.30.0.20");
  EXPECT_FALSE(agent["network_mode"].IsDefined());
  EXPECT_FALSE(agent["ports"].IsDefined());
}

TEST(ComposeFile, AgentProxyVariablesPointAtTheProxy) {
  auto env = environment_of(compose()["services"]["agent"]);
  for (const char* name : {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"}) {
    EXPECT_EQ(env[name], "http://172.30.0.10:3128") << name;
  }
  ASSERT_TRUE(env.count("NO_PROXY"));
  for (const char* host : {"localhost", "127.0.0.1", "172.30.0.10"}) {
    EXPECT_TRUE(contains("," + env["NO_PROXY"] + ",", std::string(",") + host + ",")) << host;
  }
}

TEST(ComposeFile, PolicyComesFromTheEnvironment) {
  std::vector<std::string> command;
  for (const auto& w : compose()["services"]["squid-proxy"]["command"]) command.push_back(w.as<std::string>());
  auto allow = values_of(command, "--allow-domains");
  auto block = values_of(command, "--block-domains");
  ASSERT_EQ(allow.size(), 1u);
  ASSERT_EQ(block.size(), 1u);
  EXPECT_EQ(allow[0].rfind("${AWF_ALLOW_DOMAINS", 0), 0u) << allow[0];
  EXPECT_EQ(block[0].rfind("${AWF_BLOCK_DOMAINS", 0), 0u) << block[0];
  const std::string help = help_of("awf-proxy");
  for (const auto& w : command) {
    if (w.rfind("--", 0) == 0) {
      EXPECT_TRUE(contains(help, w + " ")) << w << " is not an awf-proxy option";
    }
  }
}

TEST(ComposeFile, AgentWaitsForAHealthyProxyAndKeepsAwfsConfinement) {
  const YAML::Node agent = compose()["services"]["agent"];
  EXPECT_EQ(agent["depends_on"]["squid-proxy"]["condition"].as<std::string>(""), "service_healthy");
  EXPECT_EQ(keys_of(agent["cap_add"]), (std::set<std::string>{"SYS_ADMIN", "SYS_CHROOT"}));
  EXPECT_TRUE(keys_of(agent["security_opt"]).count("no-new-privileges:true"));
  auto env = environment_of(agent);
  EXPECT_TRUE(env.count("AWF_USER_UID") && env.count("AWF_USER_GID"));
  Dockerfile proxy = parse_dockerfile(proxy_dockerfile());
  EXPECT_FALSE(proxy.in_stage(proxy.last_stage(), "HEALTHCHECK").empty())
      << "service_healthy needs the proxy image's HEALTHCHECK";
}

TEST(DockerStub, PrintsAwfsMessageAndExits127) {
  Outcome o = run({(source_dir() / "docker" / "docker-stub.sh").string(), "run", "alpine"});
  EXPECT_EQ(o.exit_code, 127) << o.describe();
  EXPECT_TRUE(contains(o.err, "ERROR: Docker-in-Docker support was removed in AWF v0.9.1.")) << o.describe();
  EXPECT_TRUE(o.out.empty());
}

}  // namespace
}  // namespace awf::docker_test
