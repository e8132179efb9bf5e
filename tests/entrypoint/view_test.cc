// The selective-mount table: what the built view exposes of the host.
#include "awf/entrypoint/view.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

namespace awf::entrypoint {
namespace {

Config config_for(const std::string& home) {
  Config cfg;
  cfg.home = home;
  cfg.workspace = "/tmp";
  cfg.uid = 1234;
  cfg.gid = 1235;
  return cfg;
}

const MountEntry* find(const std::vector<MountEntry>& table, const std::string& target) {
  auto it = std::find_if(table.begin(), table.end(), [&](const MountEntry& e) { return e.target == target; });
  return it == table.end() ? nullptr : &*it;
}

TEST(View, HomeIsAnEmptyTmpfsOwnedByTheUser) {
  auto table = selective_mount_table(config_for("/nonexistent-home"));
  const MountEntry* home = find(table, "/nonexistent-home");
  ASSERT_NE(home, nullptr);
  EXPECT_EQ(home->kind, MountKind::kTmpfs);
  EXPECT_NE(home->tmpfs_options.find("uid=1234,gid=1235"), std::string::npos);
}

TEST(View, SecretDirectoriesAreNeverMounted) {
  auto table = selective_mount_table(config_for("/h"));
  for (const char* secret : {"/h/.ssh", "/h/.aws", "/h/.docker", "/h/.kube", "/h/.gnupg", "/h/.netrc",
                             "/h/.gitconfig", "/h/.git-credentials"}) {
    const MountEntry* e = find(table, secret);
    EXPECT_TRUE(e == nullptr) << secret;
  }
}

TEST(View, CredentialFilesInTheEmptyHomeAreMasked) {
  auto table = selective_mount_table(config_for("/nonexistent-home"));
  for (const char* file : {"/nonexistent-home/.docker/config.json", "/nonexistent-home/.ssh/id_rsa",
                           "/nonexistent-home/.npmrc", "/nonexistent-home/.config/gh/hosts.yml"}) {
    const MountEntry* e = find(table, file);
    ASSERT_NE(e, nullptr) << file;
    EXPECT_EQ(e->kind, MountKind::kMask);
  }
}

TEST(View, WorkspaceCoveringTheHomeGetsNoCreatedMasks) {
  // Creating a mask file there would write into the host's directory.
  for (const auto& [home, workspace] : {std::pair{"/nonexistent-home", "/nonexistent-home"},
                                        std::pair{"/nonexistent-ws/home", "/nonexistent-ws"}}) {
    Config cfg = config_for(home);
    cfg.workspace = workspace;
    auto table = selective_mount_table(cfg);
    EXPECT_TRUE(std::none_of(table.begin(), table.end(),
                             [](const MountEntry& e) { return e.kind == MountKind::kMask; }))
        << workspace;
  }
}

TEST(View, SystemDirectoriesAreReadOnlyAndTmpAndWorkspaceWritable) {
  auto table = selective_mount_table(config_for("/h"));
  const MountEntry* usr = find(table, "/usr");
  ASSERT_NE(usr, nullptr);
  EXPECT_FALSE(usr->writable);
  const MountEntry* tmp = find(table, "/tmp");
  ASSERT_NE(tmp, nullptr);
  EXPECT_TRUE(tmp->writable);
  // The workspace is /tmp here too: both entries exist, the workspace last.
  auto last_tmp = std::find_if(table.rbegin(), table.rend(), [](const MountEntry& e) { return e.target == "/tmp"; });
  EXPECT_TRUE(last_tmp->writable && last_tmp->recursive);
}

TEST(View, ParentsAreMountedBeforeChildrenAndMasksLast) {
  auto table = selective_mount_table(config_for("/h"));
  auto index = [&](const std::string& t) {
    return std::find_if(table.begin(), table.end(), [&](const MountEntry& e) { return e.target == t; }) - table.begin();
  };
  EXPECT_LT(index("/etc"), index("/etc/passwd"));
  EXPECT_LT(index("/dev"), index("/dev/null"));
  EXPECT_LT(index("/h"), index("/h/.config"));
  bool seen_mask = false;
  for (const auto& e : table) {
    if (e.kind == MountKind::kMask) seen_mask = true;
    else EXPECT_FALSE(seen_mask) << e.target << " after a mask";
  }
}

TEST(View, UsrMergedDirectoriesBecomeSymlinks) {
  std::error_code ec;
  if (!std::filesystem::is_symlink("/bin", ec)) GTEST_SKIP() << "/bin is not a symlink on this host";
  const auto table = selective_mount_table(config_for("/h"));
  const MountEntry* bin = find(table, "/bin");
  ASSERT_NE(bin, nullptr);
  EXPECT_EQ(bin->kind, MountKind::kSymlink);
}

}  // namespace
}  // namespace awf::entrypoint
