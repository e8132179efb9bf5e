// The descriptor-based tree operations root runs after the command started:
// links the command could have planted are never followed.
#include "awf/runtime/safe_tree.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace awf::runtime {
namespace {

namespace fs = std::filesystem;

class SafeTree : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "awf-safe-tree-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    base_ = templ;
    // Something outside the tree that a planted link points at.
    fs::create_directories(base_ / "outside");
    write(base_ / "outside" / "precious", "keep me\n");
    ::chmod((base_ / "outside" / "precious").c_str(), 0600);
    // The tree: files, a sub-directory, and links out of it.
    fs::create_directories(base_ / "tree" / "sub");
    write(base_ / "tree" / "access.log", "line\n");
    write(base_ / "tree" / "sub" / "audit.jsonl", "{}\n");
    fs::create_symlink(base_ / "outside" / "precious", base_ / "tree" / "link-to-file");
    fs::create_symlink(base_ / "outside", base_ / "tree" / "sub" / "link-to-dir");
  }
  void TearDown() override { fs::remove_all(base_); }

  static void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }
  static std::string read(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static mode_t mode_of(const fs::path& p) {
    struct stat st {};
    ::stat(p.c_str(), &st);
    return st.st_mode & 07777;
  }

  fs::path base_;
};

TEST_F(SafeTree, RemovalDeletesLinksButNeverWhatTheyPointAt) {
  auto parent = open_directory(base_.string());
  ASSERT_TRUE(parent) << parent.message();
  auto status = remove_tree_at(parent->get(), "tree", (base_ / "tree").string());
  ASSERT_TRUE(status) << status.message();
  EXPECT_FALSE(fs::exists(base_ / "tree"));
  EXPECT_EQ(read(base_ / "outside" / "precious"), "keep me\n");
}

TEST_F(SafeTree, ReadableWalkLeavesLinkTargetsAlone) {
  ::chmod((base_ / "tree" / "access.log").c_str(), 0600);
  auto dir = open_directory((base_ / "tree").string());
  ASSERT_TRUE(dir);
  auto status = make_tree_readable(dir->get(), (base_ / "tree").string());
  ASSERT_TRUE(status) << status.message();
  EXPECT_EQ(mode_of(base_ / "tree" / "access.log"), 0644u);
  EXPECT_EQ(mode_of(base_ / "outside" / "precious"), 0600u) << "chmod went through a link";
}

TEST_F(SafeTree, CopySkipsLinksAndNamesThem) {
  fs::create_directories(base_ / "copy");
  auto from = open_directory((base_ / "tree").string());
  auto to = open_directory((base_ / "copy").string());
  ASSERT_TRUE(from && to);
  auto status = copy_tree_at(from->get(), to->get(), "tree");
  ASSERT_FALSE(status);
  EXPECT_NE(status.message().find("tree/link-to-file"), std::string::npos) << status.message();
  EXPECT_EQ(read(base_ / "copy" / "access.log"), "line\n");
  EXPECT_EQ(read(base_ / "copy" / "sub" / "audit.jsonl"), "{}\n");
  EXPECT_FALSE(fs::exists(fs::symlink_status(base_ / "copy" / "link-to-file")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(base_ / "copy" / "sub" / "link-to-dir")));
}

TEST_F(SafeTree, CopyNeverWritesIntoAnExistingName) {
  // The destination already holds a link named like a log file.
  fs::create_directories(base_ / "copy");
  fs::create_symlink(base_ / "outside" / "precious", base_ / "copy" / "access.log");
  auto from = open_directory((base_ / "tree").string());
  auto to = open_directory((base_ / "copy").string());
  ASSERT_TRUE(from && to);
  EXPECT_FALSE(copy_tree_at(from->get(), to->get(), "tree"));
  EXPECT_EQ(read(base_ / "outside" / "precious"), "keep me\n");
}

TEST_F(SafeTree, OpeningALinkAsADirectoryIsRefused) {
  EXPECT_FALSE(open_directory((base_ / "tree" / "sub" / "link-to-dir").string()));
}

TEST(RandomSuffix, IsTwelveHexDigitsAndChanges) {
  const std::string a = random_suffix(), b = random_suffix();
  EXPECT_EQ(a.size(), 12u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace awf::runtime
