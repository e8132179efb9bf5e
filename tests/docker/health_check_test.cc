// The proxy image's HEALTHCHECK runs `awf-proxy --health-check 127.0.0.1:3128`
// (no nc, no curl in the image): the flag exists and answers as the image
// needs. Should it go, the failure names what the Dockerfile expects.
#include <csignal>

#include "docker_support.h"

namespace awf::docker_test {
namespace {

TEST(ProxyHealthCheck, AwfProxyHasTheFlagTheImageHealthcheckRuns) {
  const auto health = proxy_health_check_command();
  ASSERT_GE(health.size(), 3u) << "docker/proxy.Dockerfile has no exec-form HEALTHCHECK CMD";
  const std::string flag = health[1];
  Outcome help = run({(bin_dir() / "awf-proxy").string(), "--help"});
  ASSERT_EQ(help.exit_code, 0) << help.describe();
  ASSERT_TRUE(contains(help.out, flag + " "))
      << "awf-proxy has no " << flag << " option, which docker/proxy.Dockerfile's HEALTHCHECK runs as `"
      << health[0] << " " << flag << " " << health[2] << "`. Needed in proxy/: " << flag
      << " ADDR:PORT connects to ADDR:PORT, exits 0 when a proxy accepts there, non-zero (and one line on stderr) "
         "otherwise, within 2 s (the HEALTHCHECK timeout). See docs/docker.md.";

  AWF_REQUIRE_FACILITY(can_use_network_namespaces() && find_program("nsenter"), "unshare --net, nsenter, ip and setpriv");
  TempDir prefix("awf-docker-install");
  Outcome o = install_tree(prefix.path());
  ASSERT_EQ(o.exit_code, 0) << o.describe();
  fs::permissions(prefix.path(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                     fs::perms::others_read | fs::perms::others_exec);
  TempDir logs("awf-docker-logs");
  ASSERT_EQ(chown(logs.path().c_str(), 13, 13), 0);
  std::vector<std::string> check = map_proxy_image_paths(health, prefix.path(), logs.path());

  // Healthy: the image's command is running in the same network namespace.
  Background proxy(as_proxy_user_in_new_netns(map_proxy_image_paths(proxy_image_command(), prefix.path(), logs.path())));
  ASSERT_TRUE(wait_until_ready(proxy, 15)) << proxy.stop(SIGKILL).describe();
  std::vector<std::string> inside{"nsenter", "--net=/proc/" + std::to_string(proxy.pid()) + "/ns/net", "--",
                                  "setpriv", "--reuid=13", "--regid=13", "--clear-groups", "--"};
  inside.insert(inside.end(), check.begin(), check.end());
  Outcome healthy = run(inside, within_seconds(10));
  EXPECT_EQ(healthy.exit_code, 0) << "health check against a running proxy: " << healthy.describe();
  proxy.stop(SIGTERM);

  // Unhealthy: nothing listens in a fresh namespace.
  Outcome unhealthy = run(as_proxy_user_in_new_netns(check), within_seconds(10));
  EXPECT_FALSE(unhealthy.timed_out) << unhealthy.describe();
  EXPECT_NE(unhealthy.exit_code, 0) << "health check with no proxy listening: " << unhealthy.describe();
}

}  // namespace
}  // namespace awf::docker_test
