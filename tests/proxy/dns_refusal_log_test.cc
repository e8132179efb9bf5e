// Unit tests of the folding of repeated DNS refusals (DnsRefusalLog, driven
// with its own clock) and of the two markers the log formats gained for the
// DNS and TLS front ends: summaries of folded records, ClientHellos with ECH.
#include <gtest/gtest.h>

#include <vector>

#include "awf/proxy/access_log.h"
#include "awf/proxy/dns_frontend.h"
#include "awf/proxy/dns_refusal_log.h"
#include "log_record_sample.h"

namespace awf::proxy {
namespace {

using namespace std::chrono_literals;
using Clock = DnsRefusalLog::Clock;

constexpr std::uint16_t kTxt = 16, kAaaa = 28;

// A refused query as the DNS front end records it.
LogRecord refusal(const std::string& client, const std::string& name, std::uint16_t qtype = 1,
                  std::uint16_t port = 40000) {
  intercept::DnsQuestion question;
  question.name = name;
  question.qtype = qtype;
  return dns_refusal_record(client, port, question);
}

struct Sink {
  std::vector<LogRecord> records;
  DnsRefusalLog::Write write() {
    return [this](LogRecord r) { records.push_back(std::move(r)); };
  }
};

TEST(DnsRefusalLog, AThousandIdenticalRefusalsInAWindowAreOneLineAndOneCount) {
  DnsRefusalLog log(10s);
  Sink sink;
  const auto t0 = Clock::now();
  for (int i = 0; i < 1000; ++i) {
    const bool written = log.refused(refusal("127.0.0.1", "exfil.denied.test", kTxt, static_cast<std::uint16_t>(40000 + i)),
                                     t0 + std::chrono::milliseconds(i), sink.write());
    EXPECT_EQ(written, i == 0) << i;
  }
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].repeated, 0u);
  EXPECT_EQ(sink.records[0].client_port, 40000);
  // Nothing before the window ends; then the summary, with the last query's port.
  EXPECT_TRUE(log.sweep(t0 + 9s, sink.write()).has_value());
  EXPECT_EQ(sink.records.size(), 1u);
  EXPECT_FALSE(log.sweep(t0 + 10s, sink.write()).has_value());
  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[1].repeated, 999u);
  EXPECT_EQ(sink.records[1].client_port, 40999);
  EXPECT_EQ(sink.records[1].url, "dns://exfil.denied.test/TXT");
  EXPECT_EQ(log.size(), 0u);
}

TEST(DnsRefusalLog, ClientNameAndTypeEachMakeADifferentRefusal) {
  DnsRefusalLog log(10s);
  Sink sink;
  const auto t0 = Clock::now();
  EXPECT_TRUE(log.refused(refusal("127.0.0.1", "a.denied.test"), t0, sink.write()));
  EXPECT_TRUE(log.refused(refusal("127.0.0.2", "a.denied.test"), t0, sink.write()));
  EXPECT_TRUE(log.refused(refusal("127.0.0.1", "b.denied.test"), t0, sink.write()));
  EXPECT_TRUE(log.refused(refusal("127.0.0.1", "a.denied.test", kAaaa), t0, sink.write()));
  EXPECT_FALSE(log.refused(refusal("127.0.0.1", "a.denied.test"), t0 + 1s, sink.write()));
  EXPECT_EQ(sink.records.size(), 4u);
  // A window without repeats ends without a line.
  log.sweep(t0 + 10s, sink.write());
  ASSERT_EQ(sink.records.size(), 5u);
  EXPECT_EQ(sink.records[4].repeated, 1u);
  EXPECT_EQ(sink.records[4].host, "a.denied.test");
}

TEST(DnsRefusalLog, AFloodThatOutlastsTheWindowCostsTwoLinesPerWindow) {
  DnsRefusalLog log(10s);
  Sink sink;
  const auto t0 = Clock::now();
  for (int ms = 0; ms < 35'000; ms += 10) {
    log.refused(refusal("127.0.0.1", "beacon.denied.test"), t0 + std::chrono::milliseconds(ms), sink.write());
  }
  log.flush(sink.write());
  // Windows start at 0, 10, 20 and 30 s: a line and a summary each.
  ASSERT_EQ(sink.records.size(), 8u);
  std::uint64_t queries = 0;
  for (const auto& r : sink.records) queries += r.repeated ? r.repeated : 1;
  EXPECT_EQ(queries, 3500u);
}

TEST(DnsRefusalLog, MemoryIsBoundedAndNoCountIsLostWhenTheTableIsFull) {
  DnsRefusalLog log(10s, 4);
  Sink sink;
  const auto t0 = Clock::now();
  for (int i = 0; i < 4; ++i) {
    const std::string name = "n" + std::to_string(i) + ".denied.test";
    log.refused(refusal("127.0.0.1", name), t0, sink.write());
    log.refused(refusal("127.0.0.1", name), t0, sink.write());
  }
  EXPECT_EQ(log.size(), 4u);
  EXPECT_EQ(sink.records.size(), 4u);
  // A fifth name: the four pending counts are written, the table starts again.
  log.refused(refusal("127.0.0.1", "n4.denied.test"), t0, sink.write());
  EXPECT_EQ(log.size(), 1u);
  ASSERT_EQ(sink.records.size(), 9u);
  for (std::size_t i = 4; i < 8; ++i) EXPECT_EQ(sink.records[i].repeated, 1u);
  EXPECT_EQ(sink.records[8].host, "n4.denied.test");
}

TEST(DnsRefusalLog, FlushWritesEveryPendingCount) {
  DnsRefusalLog log(10s);
  Sink sink;
  const auto t0 = Clock::now();
  for (int i = 0; i < 3; ++i) log.refused(refusal("127.0.0.1", "x.denied.test"), t0, sink.write());
  log.flush(sink.write());
  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[1].repeated, 2u);
  EXPECT_EQ(log.size(), 0u);
}

TEST(LogMarkers, ASummaryCarriesItsCountInEveryFormat) {
  LogRecord r = refusal("127.0.0.1", "exfil.denied.test", kTxt);
  r.repeated = 999;
  const std::string line = format_firewall_detailed(r);
  EXPECT_EQ(line.substr(line.find(' ') + 1),
            "127.0.0.1:40000 exfil.denied.test -:- - DNS 403 TCP_DENIED:HIER_NONE dns://exfil.denied.test/TXT "
            "\"repeated 999 times\"");
  const std::string native = format_squid_native(r);
  EXPECT_NE(native.find(" DNS dns://exfil.denied.test/TXT - HIER_NONE/- repeated=999"), std::string::npos) << native;
  const std::string audit = format_audit_jsonl(r, "1");
  EXPECT_NE(audit.find(",\"url\":\"dns://exfil.denied.test/TXT\",\"repeated\":999}"), std::string::npos) << audit;
}

TEST(LogMarkers, AHelloWithEchIsMarkedWhereAwfsParsersLookPastIt) {
  LogRecord r = proxy_test::tunnel_record();
  r.host = "public.cdn.test:443";
  r.dest = "192.0.2.7:443";
  r.url = "public.cdn.test:443";
  r.original_dest = "192.0.2.7:443";
  const std::string plain = format_firewall_detailed(r);
  EXPECT_NE(plain.find(" TCP_TUNNEL:HIER_DIRECT public.cdn.test:443 "), std::string::npos) << plain;
  EXPECT_EQ(format_audit_jsonl(r, "1").find("ech"), std::string::npos);
  r.ech = true;
  const std::string line = format_firewall_detailed(r);
  EXPECT_NE(line.find(" TCP_TUNNEL:HIER_DIRECT_ECH public.cdn.test:443 \"-\""), std::string::npos) << line;
  EXPECT_NE(format_squid_native(r).find(" HIER_DIRECT_ECH/192.0.2.7 "), std::string::npos) << format_squid_native(r);
  const std::string audit = format_audit_jsonl(r, "1");
  EXPECT_NE(audit.find("\"decision\":\"TCP_TUNNEL\""), std::string::npos) << audit;
  EXPECT_NE(audit.find(",\"original_dest\":\"192.0.2.7:443\",\"ech\":true}"), std::string::npos) << audit;
}

}  // namespace
}  // namespace awf::proxy
