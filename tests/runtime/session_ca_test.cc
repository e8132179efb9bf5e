// The per-run CA of --ssl-bump: a P-256 CA valid one day, its key 0600, a
// bundle of the system's CAs followed by it, and no file overwritten.
#include "awf/runtime/session_ca.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "awf/testing/files.h"
#include "awf/testing/process.h"

namespace awf::runtime {
namespace {

using namespace std::chrono_literals;

mode_t mode_of(const std::filesystem::path& p) {
  struct stat st{};
  return ::stat(p.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

TEST(SessionCa, IsAOneDayP256CaWithAPrivateKeyAndABundle) {
  awf::testing::TempDir dir;
  auto ca = make_session_ca(dir.path(), dir.file("bundle.pem"));
  ASSERT_TRUE(ca) << ca.message();
  EXPECT_EQ(mode_of(ca->key), 0600u);
  EXPECT_EQ(mode_of(ca->cert), 0644u);
  EXPECT_EQ(mode_of(ca->bundle), 0644u);

  auto text = awf::testing::run({"openssl", "x509", "-in", ca->cert.string(), "-noout", "-text"}, 30s);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("CA:TRUE"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("Subject: CN = AWF Session CA"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("NIST CURVE: P-256"), std::string::npos) << text.out;
  auto end = awf::testing::run({"openssl", "x509", "-in", ca->cert.string(), "-noout", "-checkend", "86000"}, 30s);
  EXPECT_EQ(end.exit_code, 0) << "valid for (about) a day";
  auto past = awf::testing::run({"openssl", "x509", "-in", ca->cert.string(), "-noout", "-checkend", "90000"}, 30s);
  EXPECT_NE(past.exit_code, 0) << "and not longer";
  auto matches = awf::testing::run({"openssl", "pkey", "-in", ca->key.string(), "-pubout"}, 30s);
  auto cert_key = awf::testing::run({"openssl", "x509", "-in", ca->cert.string(), "-noout", "-pubkey"}, 30s);
  EXPECT_EQ(matches.out, cert_key.out);

  const std::string bundle = awf::testing::read_file(ca->bundle);
  const std::string own = awf::testing::read_file(ca->cert);
  ASSERT_GE(bundle.size(), own.size());
  EXPECT_EQ(bundle.substr(bundle.size() - own.size()), own) << "the CA comes last";
  auto verify = awf::testing::run({"openssl", "verify", "-CAfile", ca->bundle.string(), ca->cert.string()}, 30s);
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

TEST(SessionCa, RefusesToOverwriteAFile) {
  awf::testing::TempDir dir;
  awf::testing::write_file(dir.file("ca-key.pem"), "someone else's\n");
  auto ca = make_session_ca(dir.path(), dir.file("bundle.pem"));
  ASSERT_FALSE(ca);
  EXPECT_NE(ca.message().find("cannot create " + dir.file("ca-key.pem") + ": File exists"), std::string::npos)
      << ca.message();
  EXPECT_EQ(awf::testing::read_file(dir.file("ca-key.pem")), "someone else's\n");
}

}  // namespace
}  // namespace awf::runtime
