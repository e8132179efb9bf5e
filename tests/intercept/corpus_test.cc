// Runs every seed of the fuzz corpora through the parsers in the normal
// build, so the corpus (crashes found by fuzzing included) guards CI even
// without clang. A seed named "<outcome>__what.bin" must give that outcome.
#include <gtest/gtest.h>

#include <filesystem>

#include "awf/intercept/client_hello.h"
#include "awf/intercept/dns_ech.h"
#include "awf/intercept/dns_filter.h"
#include "awf/intercept/dns_message.h"
#include "awf/intercept/tls_alert.h"
#include "test_support.h"

namespace awf::intercept {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> seeds(const std::string& corpus) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(test::corpus_dir(corpus))) {
    if (entry.is_regular_file() && entry.path().filename().string()[0] != '.' &&
        entry.path().extension() != ".md") {
      out.push_back(entry.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

const char* outcome_of(const HelloParse& p) {
  if (p.need_more()) return "need_more";
  if (p.done()) return "done";
  return to_string(p.error);
}

TEST(Corpus, EveryClientHelloSeedGivesItsNamedOutcome) {
  const auto files = seeds("client_hello");
  ASSERT_GE(files.size(), 20u);
  for (const auto& path : files) {
    SCOPED_TRACE(path.filename().string());
    const auto bytes = test::read_file(path);
    const HelloParse p = parse_client_hello(bytes);
    if (p.failed()) (void)alert_for(p.error);
    const std::string expected = test::expected_outcome(path);
    if (!expected.empty()) {
      EXPECT_EQ(outcome_of(p), expected);
    }
    if (p.done()) {
      EXPECT_EQ(check_sni_host_name(p.hello.sni), HostNameCheck::ok);
      EXPECT_LE(p.hello.consumed, bytes.size());
      // Every head of a good hello only asks for more.
      for (std::size_t cut = 0; cut < p.hello.consumed; ++cut) {
        ASSERT_TRUE(parse_client_hello(std::span(bytes.data(), cut)).need_more()) << "cut at " << cut;
      }
    }
  }
}

TEST(Corpus, EveryDnsSeedIsHandled) {
  const auto files = seeds("dns");
  ASSERT_GE(files.size(), 20u);
  // The question the response__ seeds answer: id 0x1234, allowed.test A IN.
  const auto reference = parse_dns_query(test::read_file(test::corpus_dir("dns") / "query__crafted-axfr.bin"));
  ASSERT_TRUE(reference.ok);
  DnsQuestion answered = reference.question;
  answered.qtype = 1;
  const NamePredicate allows = [](std::string_view name) { return name == "allowed.test"; };
  for (const auto& path : files) {
    SCOPED_TRACE(path.filename().string());
    const auto bytes = test::read_file(path);
    const std::string expected = test::expected_outcome(path);
    // Any bytes as an upstream answer: stripping ECH configs reads them
    // without crashing, and what it writes has nothing left to strip.
    const EchStrip stripped = strip_ech_configs(bytes);
    if (stripped.status == EchStrip::Status::rewritten) {
      EXPECT_LT(stripped.wire.size(), bytes.size());
      EXPECT_EQ(strip_ech_configs(stripped.wire).status, EchStrip::Status::unchanged);
    }
    const auto q = parse_dns_query(bytes);
    if (expected == "response") {
      (void)parse_dns_response(bytes, answered);
      continue;
    }
    if (!expected.empty()) {
      EXPECT_EQ(q.ok ? "query" : to_string(q.error), expected);
    }
    if (q.ok) {
      const DnsDecision d = decide_dns_query(q.question, DnsPolicy{}, allows);
      const auto reply = build_dns_response(q.question, d.forward ? DnsRcode::servfail : d.rcode);
      EXPECT_FALSE(reply.empty());
      auto back = parse_dns_response(reply, q.question);
      EXPECT_TRUE(back.ok()) << back.message();
    } else {
      (void)build_dns_error_reply(bytes, q.error);
    }
  }
}

}  // namespace
}  // namespace awf::intercept
