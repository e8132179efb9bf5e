// passwd/group parsing and the synthesized identity for unknown UIDs.
#include "awf/entrypoint/identity.h"

#include <gtest/gtest.h>

namespace awf::entrypoint {
namespace {

const char* kPasswd =
    "root:x:0:0:root:/root:/bin/bash\n"
    "# a comment\n"
    "broken line\n"
    "dev:x:1000:1000:Dev:/home/dev:/bin/bash\n"
    "runner:x:1001:1001::/home/runner:/bin/sh\n";
const char* kGroup =
    "root:x:0:dev\n"
    "dev:x:1000:\n"
    "docker:x:999:dev,other\n"
    "video:x:44:other\n";

TEST(Identity, ParsesPasswdAndSkipsMalformedLines) {
  auto users = parse_passwd(kPasswd);
  ASSERT_EQ(users.size(), 3u);
  EXPECT_EQ(users[1].name, "dev");
  EXPECT_EQ(users[1].uid, 1000u);
  EXPECT_EQ(users[1].home, "/home/dev");
}

TEST(Identity, ParsesGroupMembers) {
  auto groups = parse_group(kGroup);
  ASSERT_EQ(groups.size(), 4u);
  EXPECT_EQ(groups[2].members, (std::vector<std::string>{"dev", "other"}));
}

TEST(Identity, KnownUidKeepsItsNameAndNeedsNoOverlay) {
  IdentityPlan plan = plan_identity(1000, 1000, "/home/host", kPasswd, kGroup);
  EXPECT_EQ(plan.identity.name, "dev");
  EXPECT_EQ(plan.identity.home, "/home/host");
  EXPECT_FALSE(plan.passwd);
  EXPECT_FALSE(plan.group);
}

TEST(Identity, KnownUidWithoutHomeHintUsesPasswdHome) {
  EXPECT_EQ(plan_identity(1000, 1000, "", kPasswd, kGroup).identity.home, "/home/dev");
}

TEST(Identity, SupplementaryGroupsComeFromMembershipButNeverRoot) {
  IdentityPlan plan = plan_identity(1000, 1000, "/h", kPasswd, kGroup);
  EXPECT_EQ(plan.identity.groups, (std::vector<gid_t>{999, 1000}));
}

TEST(Identity, UnknownUidGetsASynthesizedEntry) {
  IdentityPlan plan = plan_identity(4242, 4242, "/home/host", "root:x:0:0:root:/root:/bin/bash", "root:x:0:");
  EXPECT_EQ(plan.identity.name, "runner");
  ASSERT_TRUE(plan.passwd);
  EXPECT_EQ(*plan.passwd,
            "root:x:0:0:root:/root:/bin/bash\n"
            "runner:x:4242:4242:awf sandbox user:/home/host:/bin/bash\n");
  ASSERT_TRUE(plan.group);
  EXPECT_EQ(*plan.group, "root:x:0:\nrunner:x:4242:\n");
  EXPECT_EQ(plan.identity.groups, (std::vector<gid_t>{4242}));
}

TEST(Identity, TakenRunnerNameGetsTheUidSuffix) {
  IdentityPlan plan = plan_identity(4242, 1000, "/h", kPasswd, kGroup);
  EXPECT_EQ(plan.identity.name, "runner-4242");
  EXPECT_FALSE(plan.group);  // GID 1000 exists
}

TEST(Identity, TakenSuffixedNameGetsACounter) {
  std::string passwd = std::string(kPasswd) + "runner-4242:x:5000:5000::/:/bin/sh\n";
  EXPECT_EQ(plan_identity(4242, 4242, "/h", passwd, kGroup).identity.name, "runner-4242-1");
}

TEST(Identity, SynthesizedEntryFollowsAFileWithoutFinalNewline) {
  IdentityPlan plan = plan_identity(4242, 4242, "/h", "root:x:0:0::/root:/bin/sh", "");
  ASSERT_TRUE(plan.passwd);
  EXPECT_EQ(*plan.passwd, "root:x:0:0::/root:/bin/sh\nrunner:x:4242:4242:awf sandbox user:/h:/bin/bash\n");
}

}  // namespace
}  // namespace awf::entrypoint
