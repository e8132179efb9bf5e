// Path resolution inside a root: symlinks in a prepared view must not lead
// our mounts or reads out of it. No mounts needed, plain temp directories.
#include "awf/entrypoint/mounts.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "awf/entrypoint/overlay.h"

namespace awf::entrypoint {
namespace {

namespace fs = std::filesystem;

class RootPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/awf-ep-root.XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    root_ = templ;
    fs::create_directories(root_ + "/etc");
    std::ofstream(root_ + "/etc/passwd") << "inside\n";
    // Absolute symlinks as a hostile or careless preparer might leave them.
    fs::create_symlink("/etc", root_ + "/hostetc");
    fs::create_symlink("/", root_ + "/up");
    fs::create_symlink("../../../../../../etc/passwd", root_ + "/dotdot");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  std::string root_;
};

TEST_F(RootPathTest, AbsoluteSymlinkResolvesInsideTheRoot) {
  auto content = read_file_in_root(root_, "/hostetc/passwd", false);
  ASSERT_TRUE(content.ok()) << content.message();
  EXPECT_EQ(*content, "inside\n");
}

TEST_F(RootPathTest, DotDotCannotClimbOutOfTheRoot) {
  auto content = read_file_in_root(root_, "/dotdot", false);
  ASSERT_TRUE(content.ok()) << content.message();
  EXPECT_EQ(*content, "inside\n");
  EXPECT_EQ(*read_file_in_root(root_, "/up/up/etc/passwd", false), "inside\n");
}

TEST_F(RootPathTest, MissingFileThroughASymlinkIsMissingNotTheHostOne) {
  ASSERT_TRUE(fs::exists("/etc/hostname") || fs::exists("/etc/os-release"));
  const char* host_file = fs::exists("/etc/hostname") ? "/hostetc/hostname" : "/hostetc/os-release";
  EXPECT_TRUE(missing_in_root(root_, host_file));
  auto content = read_file_in_root(root_, host_file, true);
  ASSERT_TRUE(content.ok()) << content.message();
  EXPECT_EQ(*content, "");
  EXPECT_FALSE(read_file_in_root(root_, host_file, false).ok());
}

TEST_F(RootPathTest, CreatedTargetsStayInsideTheRoot) {
  auto created = open_in_root(root_, "/hostetc/awf-created/file", CreateOptions{.last_is_dir = false});
  ASSERT_TRUE(created.ok()) << created.message();
  EXPECT_TRUE(created->created);
  EXPECT_TRUE(fs::exists(root_ + "/etc/awf-created/file"));
  EXPECT_FALSE(fs::exists("/etc/awf-created"));
}

TEST_F(RootPathTest, ExistingTargetIsNotReportedAsCreated) {
  auto existing = open_in_root(root_, "/etc/passwd", CreateOptions{.create = false});
  ASSERT_TRUE(existing.ok()) << existing.message();
  EXPECT_FALSE(existing->created);
}

TEST_F(RootPathTest, MissingTargetWithoutCreateIsAnErrorNamingThePath) {
  auto missing = open_in_root(root_, "/nope/x", CreateOptions{.create = false});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("\"nope\""), std::string::npos) << missing.message();
  EXPECT_NE(missing.message().find("ENOENT"), std::string::npos) << missing.message();
}

TEST(MountFlags, AreRenderedByName) {
  EXPECT_EQ(mount_flags_to_string(MS_BIND | MS_REC | MS_RDONLY), "MS_RDONLY|MS_BIND|MS_REC");
  EXPECT_EQ(mount_flags_to_string(0), "0");
  EXPECT_EQ(mount_flags_to_string(MS_NOSUID | (1UL << 30)), "MS_NOSUID|0x40000000");
}

}  // namespace
}  // namespace awf::entrypoint
