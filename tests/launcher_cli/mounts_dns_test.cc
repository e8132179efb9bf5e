// Mount specs and DNS servers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "awf/cli/dns.h"
#include "awf/cli/mounts.h"

namespace awf::cli {
namespace {

bool exists(const std::string& p) { return p != "/missing"; }

TEST(Mount, ErrorsCarryAwfReasons) {
  Environment env = {{"DATA", "/srv/data"}};
  struct Case {
    const char* why;
    const char* spec;
    const char* reason;
  } cases[] = {
      {"one part", "/a", "Mount must be in format host_path:container_path[:mode]"},
      {"four parts", "/a:/b:ro:x", "Mount must be in format host_path:container_path[:mode]"},
      {"empty host path", ":/b", "Host path cannot be empty"},
      {"blank host path", "  :/b", "Host path cannot be empty"},
      {"empty container path", "/a:", "Container path cannot be empty"},
      {"relative host path", "a:/b", "Host path must be absolute (start with /)"},
      {"relative container path", "/a:b", "Container path must be absolute (start with /)"},
      {"unknown mode", "/a:/b:rx", "Mount mode must be either \"ro\" or \"rw\""},
      {"missing host path", "/missing:/b", "Host path does not exist: /missing"},
      {"unset variable", "${NOPE}/x:/b", "Environment variable is not set: ${NOPE}"},
      {"unset bare variable", "$NOPE:/b", "Environment variable is not set: ${NOPE}"},
  };
  for (const auto& c : cases) {
    auto m = parse_mount(c.spec, env, exists);
    ASSERT_FALSE(m.ok()) << c.why;
    EXPECT_EQ(m.message(), c.reason) << c.why;
  }
}

TEST(Mount, ValidSpecsAreExpanded) {
  Environment env = {{"DATA", "/srv/data"}, {"HOME", "/home/me"}};
  auto m = parse_mount("${DATA}/in:/data:ro", env, exists);
  ASSERT_TRUE(m.ok()) << m.message();
  EXPECT_EQ(m->host_path, "/srv/data/in");
  EXPECT_EQ(m->container_path, "/data");
  EXPECT_TRUE(m->read_only);
  EXPECT_EQ(m->spec, "${DATA}/in:/data:ro");
  auto rw = parse_mount("$HOME:/work", env, exists);
  ASSERT_TRUE(rw.ok());
  EXPECT_EQ(rw->host_path, "/home/me");
  EXPECT_FALSE(rw->read_only) << "no mode means read-write";
  EXPECT_TRUE(parse_mount("/a:/b:rw", env, exists)->container_path == "/b");
}

TEST(Mount, DollarWithoutANameIsLiteral) {
  auto text = expand_variables("/a$/b${}/c$1", {});
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "/a$/b${}/c$1");
}

TEST(Mount, RealFilesystemIsCheckedByDefault) {
  EXPECT_TRUE(parse_mount("/tmp:/t", {}).ok());
  EXPECT_EQ(parse_mount("/definitely/not/here:/t", {}).message(), "Host path does not exist: /definitely/not/here");
}

TEST(Mount, ErrorTextIsTwoAwfLines) {
  EXPECT_EQ(mount_error_text("/a", "Host path cannot be empty"),
            "[ERROR] Invalid volume mount: /a\n[ERROR] Reason: Host path cannot be empty");
}

TEST(DnsServers, Vectors) {
  struct Case {
    const char* why;
    const char* list;
    bool ok;
    std::vector<std::string> servers;
    const char* error;
  } cases[] = {
      {"two IPv4", "8.8.8.8,1.1.1.1", true, {"8.8.8.8", "1.1.1.1"}, ""},
      {"spaces and empties", " 8.8.8.8 , ,2001:4860:4860::8888", true, {"8.8.8.8", "2001:4860:4860::8888"}, ""},
      {"a name is not an address", "dns.google", false, {}, "Invalid DNS server IP address: dns.google"},
      {"an out-of-range octet", "8.8.8.256", false, {}, "Invalid DNS server IP address: 8.8.8.256"},
      {"nothing left", " , ", false, {}, "At least one DNS server must be specified"},
  };
  for (const auto& c : cases) {
    auto r = parse_dns_servers(c.list);
    ASSERT_EQ(r.ok(), c.ok) << c.why;
    if (c.ok) {
      EXPECT_EQ(*r, c.servers) << c.why;
    } else {
      EXPECT_EQ(r.message(), c.error) << c.why;
    }
  }
}

TEST(DnsServers, ResolvConfParsing) {
  EXPECT_EQ(parse_resolv_conf("# x\nnameserver 127.0.0.53\nsearch corp\nnameserver 10.0.0.2 # c\n"
                              "nameserver fe80::1%eth0\nnameserver bogus\n"),
            (std::vector<std::string>{"127.0.0.53", "10.0.0.2", "fe80::1"}));
  EXPECT_TRUE(is_loopback_address("127.0.0.53"));
  EXPECT_TRUE(is_loopback_address("::1"));
  EXPECT_FALSE(is_loopback_address("10.0.0.2"));
}

class ResolvFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/awf-dns-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const char* name, const char* text) {
    std::string p = dir_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  std::string dir_;
};

TEST_F(ResolvFiles, FirstFileWithANonLoopbackServerWins) {
  auto stub = write("stub.conf", "nameserver 127.0.0.53\n");
  auto real = write("real.conf", "nameserver 10.0.0.2\nnameserver 127.0.0.1\nnameserver 10.0.0.3\n");
  auto later = write("later.conf", "nameserver 9.9.9.9\n");
  auto d = detect_dns_servers({dir_ + "/absent", stub, real, later});
  EXPECT_EQ(d.servers, (std::vector<std::string>{"10.0.0.2", "10.0.0.3"}));
  EXPECT_FALSE(d.fell_back);
  EXPECT_EQ(d.message, "Auto-detected DNS servers from " + real + ": 10.0.0.2, 10.0.0.3");
}

TEST_F(ResolvFiles, FallsBackToGooglePublicDnsWithAWarning) {
  auto stub = write("stub.conf", "nameserver 127.0.0.53\n");
  auto d = detect_dns_servers({stub});
  EXPECT_TRUE(d.fell_back);
  EXPECT_EQ(d.servers, (std::vector<std::string>{"8.8.8.8", "8.8.4.4"}));
  EXPECT_EQ(d.message, "Could not detect host DNS servers; falling back to 8.8.8.8, 8.8.4.4");
}

}  // namespace
}  // namespace awf::cli
