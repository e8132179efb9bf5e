// PATH ordering: awf's build_path_script rules, keyed by sentence.
#include "awf/entrypoint/path.h"

#include <gtest/gtest.h>

#include <set>

namespace awf::entrypoint {
namespace {

PathInputs inputs(std::set<std::string> dirs = {}) {
  PathInputs in;
  in.home = "/home/u";
  in.is_dir = [dirs](const std::string& d) { return dirs.count(d) > 0; };
  in.glob = [](const std::string& pattern) -> std::vector<std::string> {
    if (pattern == "/opt/hostedtoolcache/*/*/*/bin") {
      return {"/opt/hostedtoolcache/node/20.1.0/x64/bin", "/opt/hostedtoolcache/go/1.22.0/x64/bin"};
    }
    if (pattern == "/home/u/work/_tool/*/*/*/bin") return {"/home/u/work/_tool/py/3.12/x64/bin"};
    return {};
  };
  return in;
}

std::string without_npm(const std::string& path) {
  const std::string npm = "/home/u/.npm-global/bin:";
  EXPECT_EQ(path.rfind(npm, 0), 0u) << path;
  return path.substr(npm.size());
}

TEST(Path, HostPathIsKeptInItsOrder) {
  PathInputs in = inputs();
  in.host_path = "/a:/b:/usr/bin";
  EXPECT_EQ(without_npm(build_path(in).path), "/a:/b:/usr/bin");
}

TEST(Path, GithubPathEntriesComeFirstLaterLinesWinning) {
  PathInputs in = inputs();
  in.host_path = "/usr/bin:/bin";
  in.github_path = {"/first", "/second"};
  EXPECT_EQ(without_npm(build_path(in).path), "/second:/first:/usr/bin:/bin");
}

TEST(Path, DuplicatesKeepTheirFirstPosition) {
  PathInputs in = inputs();
  in.host_path = "/usr/bin:/x:/usr/bin:/x";
  in.github_path = {"/x"};
  EXPECT_EQ(without_npm(build_path(in).path), "/x:/usr/bin");
}

TEST(Path, EmptyEntriesAreDropped) {
  PathInputs in = inputs();
  in.host_path = ":/a::/b:";
  EXPECT_EQ(without_npm(build_path(in).path), "/a:/b");
}

TEST(Path, ToolchainsArePrependedBunGoDotnetJavaCargo) {
  PathInputs in = inputs();
  in.host_path = "/usr/bin";
  in.toolchains = {.goroot = "/go", .java_home = "/jdk", .cargo_home = "/cargo", .rustup_home = "/rustup",
                   .dotnet_root = "/dotnet", .bun_install = "/bun"};
  PathResult r = build_path(in);
  EXPECT_EQ(without_npm(r.path), "/bun/bin:/go/bin:/dotnet:/jdk/bin:/cargo/bin:/usr/bin");
  std::map<std::string, std::string> exports(r.exports.begin(), r.exports.end());
  EXPECT_EQ(exports.at("GOROOT"), "/go");
  EXPECT_EQ(exports.at("JAVA_HOME"), "/jdk");
  EXPECT_EQ(exports.at("CARGO_HOME"), "/cargo");
  EXPECT_EQ(exports.at("RUSTUP_HOME"), "/rustup");
  EXPECT_EQ(exports.at("DOTNET_ROOT"), "/dotnet");
  EXPECT_EQ(exports.at("BUN_INSTALL"), "/bun");
}

TEST(Path, JavaHomeExtendsLdLibraryPath) {
  PathInputs in = inputs();
  in.toolchains.java_home = "/jdk";
  in.ld_library_path = "/old";
  PathResult r = build_path(in);
  std::map<std::string, std::string> exports(r.exports.begin(), r.exports.end());
  EXPECT_EQ(exports.at("LD_LIBRARY_PATH"), "/jdk/lib:/jdk/lib/server:/old");
}

TEST(Path, CargoFallsBackToHomeCargoWhenPresent) {
  PathInputs in = inputs({"/home/u/.cargo/bin"});
  in.host_path = "/usr/bin";
  EXPECT_EQ(without_npm(build_path(in).path), "/home/u/.cargo/bin:/usr/bin");
  PathInputs absent = inputs();
  absent.host_path = "/usr/bin";
  EXPECT_EQ(without_npm(build_path(absent).path), "/usr/bin");
}

TEST(Path, WithoutHostPathStandardDirsThenToolCachesAppended) {
  PathInputs in = inputs();
  EXPECT_EQ(without_npm(build_path(in).path),
            std::string(kStandardPath) +
                ":/opt/hostedtoolcache/node/20.1.0/x64/bin:/opt/hostedtoolcache/go/1.22.0/x64/bin"
                ":/home/u/work/_tool/py/3.12/x64/bin");
}

TEST(Path, GithubPathBeatsToolCacheWithoutHostPath) {
  PathInputs in = inputs();
  in.github_path = {"/opt/hostedtoolcache/go/1.22.0/x64/bin"};
  std::string path = without_npm(build_path(in).path);
  EXPECT_EQ(path.rfind("/opt/hostedtoolcache/go/1.22.0/x64/bin:/usr/local/sbin", 0), 0u) << path;
}

TEST(Path, LocalBinAndCargoBinArePrependedWhenPresent) {
  PathInputs in = inputs({"/home/u/.local/bin", "/home/u/.cargo/bin"});
  in.glob = nullptr;
  EXPECT_EQ(without_npm(build_path(in).path),
            std::string("/home/u/.cargo/bin:/home/u/.local/bin:") + kStandardPath);
}

TEST(Path, GorootWinsOverGithubPathWithoutHostPath) {
  PathInputs in = inputs();
  in.glob = nullptr;
  in.github_path = {"/gh"};
  in.toolchains.goroot = "/go";
  EXPECT_EQ(without_npm(build_path(in).path), std::string("/go/bin:/gh:") + kStandardPath);
}

TEST(Path, NpmPrefixDefaultsUnderHomeAndRespectsTheIncomingOne) {
  PathInputs in = inputs();
  in.host_path = "/usr/bin";
  PathResult r = build_path(in);
  EXPECT_EQ(r.path, "/home/u/.npm-global/bin:/usr/bin");
  in.npm_config_prefix = "/custom";
  r = build_path(in);
  EXPECT_EQ(r.path, "/custom/bin:/usr/bin");
  std::map<std::string, std::string> exports(r.exports.begin(), r.exports.end());
  EXPECT_EQ(exports.at("NPM_CONFIG_PREFIX"), "/custom");
}

TEST(Path, GithubPathFileStripsCarriageReturnsAndBlankLines) {
  EXPECT_EQ(parse_github_path("/a\r\n\n  \n/b \n/c"), (std::vector<std::string>{"/a", "/b", "/c"}));
}

}  // namespace
}  // namespace awf::entrypoint
