// Configuration: flags over AWF_* variables, and the messages bad values get.
#include "awf/entrypoint/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace awf::entrypoint {
namespace {

RawOptions with_command() {
  RawOptions raw;
  raw.command = {"true"};
  raw.home = "/tmp";
  return raw;
}

TEST(Config, DefaultsToUid1000AndBuiltView) {
  auto cfg = make_config(with_command(), {});
  ASSERT_TRUE(cfg.ok()) << cfg.message();
  EXPECT_EQ(cfg->uid, 1000u);
  EXPECT_EQ(cfg->gid, 1000u);
  EXPECT_EQ(cfg->mode, RootMode::kBuildView);
}

// Settings make_config refuses, from the flags (changes to with_command()'s)
// or the environment, and the message each gets.
TEST(Config, BadSettingsAreRefusedNamingTheirSource) {
  struct Case {
    const char* why;
    void (*change_flags)(RawOptions&);  // nullptr: with_command() as it is
    EnvMap env;
    const char* message;  // nullptr: refused, whatever the words
  } cases[] = {
      {"uid 0 is refused as root", nullptr, {{"AWF_USER_UID", "0"}}, "Invalid AWF_USER_UID: cannot be 0 (root)"},
      {"gid 0 is refused even with exact ids",
       [](RawOptions& raw) {
         raw.exact_ids = true;
         raw.gid = "0";
       },
       {}, "Invalid --gid: cannot be 0 (root)"},
      {"a huge uid is out of range", nullptr, {{"AWF_USER_UID", "99999999999"}},
       "Invalid AWF_USER_UID: out of range (got \"99999999999\")"},
      {"a flag's error names the flag", [](RawOptions& raw) { raw.uid = "root"; }, {},
       "Invalid --uid: must be numeric (got \"root\")"},
      {"chroot and build view are exclusive",
       [](RawOptions& raw) {
         raw.build_view = true;
         raw.chroot = "/tmp";
       },
       {}, nullptr},
      {"a relative workdir", nullptr, {{"AWF_WORKDIR", "work"}},
       "Invalid AWF_WORKDIR: must be an absolute path, got \"work\""},
      {"the root home cannot be emptied", [](RawOptions& raw) { raw.home = "/"; }, {}, nullptr},
      {"a missing mount source stops configuration",
       [](RawOptions& raw) { raw.mounts = {"/nonexistent-awf-src:/x"}; }, {},
       "Invalid volume mount: /nonexistent-awf-src:/x\nReason: host path does not exist: /nonexistent-awf-src"},
      {"etc entries must stay inside /etc", [](RawOptions& raw) { raw.etc_entries = {"../shadow"}; }, {}, nullptr},
  };
  for (const auto& c : cases) {
    RawOptions raw = with_command();
    if (c.change_flags != nullptr) c.change_flags(raw);
    auto cfg = make_config(raw, c.env);
    EXPECT_FALSE(cfg.ok()) << c.why;
    if (!cfg.ok() && c.message != nullptr) {
      EXPECT_EQ(cfg.message(), c.message) << c.why;
    }
  }
}

TEST(Config, NonNumericUidsAreRefused) {
  for (const char* bad : {"abc", "12a", "-5", " 7", "1e3", "0x10"}) {
    auto cfg = make_config(with_command(), {{"AWF_USER_UID", bad}});
    ASSERT_FALSE(cfg.ok()) << bad;
    EXPECT_EQ(cfg.message(), std::string("Invalid AWF_USER_UID: must be numeric (got \"") + bad + "\")");
  }
}

TEST(Config, FlagWinsOverEnvironment) {
  RawOptions raw = with_command();
  raw.uid = "2000";
  auto cfg = make_config(raw, {{"AWF_USER_UID", "0"}, {"AWF_USER_GID", "3000"}});
  ASSERT_TRUE(cfg.ok()) << cfg.message();
  EXPECT_EQ(cfg->uid, 2000u);
  EXPECT_EQ(cfg->gid, 3000u);
}

TEST(Config, ChrootIdentityUidWinsOverUserUid) {
  auto cfg = make_config(with_command(), {{"AWF_USER_UID", "2000"}, {"AWF_CHROOT_IDENTITY_UID", "2001"}});
  ASSERT_TRUE(cfg.ok()) << cfg.message();
  EXPECT_EQ(cfg->uid, 2001u);
}

TEST(Config, IdsBelow1000MapTo1000LikeAwf) {
  auto cfg = make_config(with_command(), {{"AWF_USER_UID", "5"}, {"AWF_USER_GID", "999"}});
  ASSERT_TRUE(cfg.ok()) << cfg.message();
  EXPECT_EQ(cfg->uid, 1000u);
  EXPECT_EQ(cfg->gid, 1000u);
  EXPECT_EQ(cfg->notes.size(), 2u);
}

TEST(Config, ExactIdsKeepsLowIds) {
  RawOptions raw = with_command();
  raw.exact_ids = true;
  auto cfg = make_config(raw, {{"AWF_USER_UID", "5"}, {"AWF_USER_GID", "7"}});
  ASSERT_TRUE(cfg.ok()) << cfg.message();
  EXPECT_EQ(cfg->uid, 5u);
  EXPECT_EQ(cfg->gid, 7u);
}

TEST(Config, NoCommandIsAnError) {
  RawOptions raw = with_command();
  raw.command.clear();
  auto cfg = make_config(raw, {});
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.message().find("No command given"), std::string::npos);
}

TEST(Config, ChrootEnabledMeansHostDirectory) {
  auto cfg = make_config(with_command(), {{"AWF_CHROOT_ENABLED", "true"}});
  if (std::filesystem::is_directory("/host")) {
    ASSERT_TRUE(cfg.ok());
    EXPECT_EQ(cfg->chroot_dir, "/host");
  } else {
    ASSERT_FALSE(cfg.ok());
    EXPECT_EQ(cfg.message(), "Chroot directory /host does not exist or is not a directory");
  }
}

TEST(Config, ChrootFlagWinsOverEnvironment) {
  RawOptions raw = with_command();
  raw.chroot = "/tmp";
  auto cfg = make_config(raw, {{"AWF_CHROOT_ENABLED", "true"}});
  ASSERT_TRUE(cfg.ok()) << cfg.message();
  EXPECT_EQ(cfg->mode, RootMode::kChroot);
  EXPECT_EQ(cfg->chroot_dir, "/tmp");
}

TEST(Config, BuildViewFlagWinsOverChrootEnabled) {
  RawOptions raw = with_command();
  raw.build_view = true;
  auto cfg = make_config(raw, {{"AWF_CHROOT_ENABLED", "true"}});
  ASSERT_TRUE(cfg.ok()) << cfg.message();
  EXPECT_EQ(cfg->mode, RootMode::kBuildView);
}

TEST(Config, WorkdirLosesHostPrefix) {
  auto cfg = make_config(with_command(), {{"AWF_WORKDIR", "/host/home/runner/work"}});
  ASSERT_TRUE(cfg.ok()) << cfg.message();
  EXPECT_EQ(cfg->workdir, "/home/runner/work");
}

TEST(Config, DnsServersFromEnvironment) {
  auto cfg = make_config(with_command(), {{"AWF_DNS_SERVERS", "127.0.0.1, ::1"}});
  ASSERT_TRUE(cfg.ok()) << cfg.message();
  EXPECT_EQ(cfg->dns_servers, (std::vector<std::string>{"127.0.0.1", "::1"}));
}

TEST(Config, DnsServerThatIsNotAnAddressIsRefused) {
  // A newline would add a directive to resolv.conf.
  for (const char* bad : {"dns.google", "1.2.3.4\nnameserver 6.6.6.6", "1.2.3"}) {
    auto servers = parse_dns_servers(bad);
    EXPECT_FALSE(servers.ok()) << bad;
  }
  EXPECT_EQ(parse_dns_servers("dns.google").message(),
            "Invalid DNS server \"dns.google\": expected an IPv4 or IPv6 address");
}

struct MountCase {
  const char* sentence;
  const char* spec;
  const char* reason;  // nullptr: valid
};

TEST(MountSpec, Grammar) {
  const MountCase cases[] = {
      {"host and container, default rw", "/tmp:/data", nullptr},
      {"read-only mode", "/tmp:/data:ro", nullptr},
      {"read-write mode", "/tmp:/data:rw", nullptr},
      {"missing host path", "/nonexistent-awf-path:/data", "host path does not exist: /nonexistent-awf-path"},
      {"relative host path", "tmp:/data", "host path must be absolute"},
      {"relative container path", "/tmp:data", "container path must be absolute"},
      {"unknown mode", "/tmp:/data:rx", "mode must be ro or rw, got \"rx\""},
      {"single part", "/tmp", "expected host:container or host:container:mode"},
      {"four parts", "/tmp:/a:ro:x", "expected host:container or host:container:mode"},
      {"container root", "/tmp:/", "container path must not be the root"},
  };
  for (const auto& c : cases) {
    auto m = parse_mount_spec(c.spec);
    if (c.reason == nullptr) {
      EXPECT_TRUE(m.ok()) << c.sentence << ": " << (m.ok() ? "" : m.message());
    } else {
      ASSERT_FALSE(m.ok()) << c.sentence;
      EXPECT_EQ(m.message(), std::string("Invalid volume mount: ") + c.spec + "\nReason: " + c.reason) << c.sentence;
    }
  }
}

TEST(MountSpec, ModesAndHostPrefix) {
  auto ro = parse_mount_spec("/tmp:/host/data:ro");
  ASSERT_TRUE(ro.ok());
  EXPECT_FALSE(ro->writable);
  EXPECT_EQ(ro->target, "/data");
  auto rw = parse_mount_spec("/tmp:/data");
  ASSERT_TRUE(rw.ok());
  EXPECT_TRUE(rw->writable);
}

TEST(Config, EnvironToMapSplitsAtFirstEquals) {
  char a[] = "A=b=c";
  char b[] = "NOEQUALS";
  char c[] = "EMPTY=";
  char* envp[] = {a, b, c, nullptr};
  auto env = environ_to_map(envp);
  EXPECT_EQ(env.at("A"), "b=c");
  EXPECT_EQ(env.at("EMPTY"), "");
  EXPECT_EQ(env.count("NOEQUALS"), 0u);
}

}  // namespace
}  // namespace awf::entrypoint
