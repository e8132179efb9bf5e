// Tests of strip_ech_configs: the ech SvcParam leaves HTTPS and SVCB records
// and nothing else in the message changes (compression pointers behind the
// cut follow their names); records it cannot read or that need ECH are
// dropped, never relayed as they came; the result reads back with ldns.
#include <gtest/gtest.h>
#include <ldns/ldns.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "awf/intercept/dns_ech.h"

namespace awf::intercept {
namespace {

using Bytes = std::vector<std::uint8_t>;

void put16(Bytes& b, std::size_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}

void put_name(Bytes& b, const std::string& dotted) {
  std::size_t start = 0;
  while (start < dotted.size()) {
    const std::size_t dot = std::min(dotted.find('.', start), dotted.size());
    b.push_back(static_cast<std::uint8_t>(dot - start));
    b.insert(b.end(), dotted.begin() + static_cast<std::ptrdiff_t>(start),
             dotted.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  b.push_back(0);
}

Bytes pointer(std::size_t offset) { return {static_cast<std::uint8_t>(0xc0 | (offset >> 8)), static_cast<std::uint8_t>(offset)}; }

// A message assembled section by section; counts filled in by finish().
struct Message {
  Bytes b;
  std::size_t counts[4] = {0, 0, 0, 0};
  Message() { b = {0x12, 0x34, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0}; }
  std::size_t question(const std::string& name, std::uint16_t type) {
    const std::size_t at = b.size();
    put_name(b, name);
    put16(b, type);
    put16(b, 1);
    ++counts[0];
    return at;
  }
  // Returns the offset of the owner name.
  std::size_t record(int section, const Bytes& owner, std::uint16_t type, const Bytes& rdata) {
    const std::size_t at = b.size();
    b.insert(b.end(), owner.begin(), owner.end());
    put16(b, type);
    put16(b, 1);
    b.insert(b.end(), {0, 0, 0x01, 0x2c});  // TTL 300
    put16(b, rdata.size());
    b.insert(b.end(), rdata.begin(), rdata.end());
    ++counts[1 + section];
    return at;
  }
  Bytes finish() const {
    Bytes out = b;
    for (int i = 0; i < 4; ++i) {
      out[4 + 2 * i] = static_cast<std::uint8_t>(counts[i] >> 8);
      out[5 + 2 * i] = static_cast<std::uint8_t>(counts[i]);
    }
    return out;
  }
};

Bytes name_bytes(const std::string& dotted) {
  Bytes b;
  put_name(b, dotted);
  return b;
}

struct Param {
  std::uint16_t key;
  Bytes value;
};

Bytes svcb_rdata(std::uint16_t priority, const Bytes& target, const std::vector<Param>& params) {
  Bytes r;
  put16(r, priority);
  r.insert(r.end(), target.begin(), target.end());
  for (const auto& p : params) {
    put16(r, p.key);
    put16(r, p.value.size());
    r.insert(r.end(), p.value.begin(), p.value.end());
  }
  return r;
}

const Param kAlpn{1, {2, 'h', '2'}};
const Param kIpv4Hint{4, {192, 0, 2, 1}};
const Param kEch{5, Bytes(45, 0xec)};
const Param kIpv6Hint{6, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};

// An HTTPS answer for www.allowed.test, and behind it records whose names
// point at a name that sits after the HTTPS record: an owner and a CNAME
// target, both compressed.
Bytes https_answer(bool with_ech) {
  Message m;
  const std::size_t q = m.question("www.allowed.test", kDnsTypeHttps);
  std::vector<Param> params = {kAlpn, kIpv4Hint};
  if (with_ech) params.push_back(kEch);
  params.push_back(kIpv6Hint);
  m.record(0, pointer(q), kDnsTypeHttps, svcb_rdata(1, name_bytes(""), params));
  const std::size_t ns1 = m.record(2, name_bytes("ns1.cdn.test"), 1, {192, 0, 2, 53});
  m.record(2, pointer(ns1), 28, Bytes(16, 0x01));
  m.record(2, pointer(q), 5, pointer(ns1));
  return m.finish();
}

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};

std::string ldns_text(const Bytes& wire) {
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, wire.data(), wire.size()) != LDNS_STATUS_OK) return "(ldns cannot read it)";
  std::unique_ptr<ldns_pkt, PktFree> pkt(raw);
  char* text = ldns_pkt2str(pkt.get());
  std::string out = text ? text : "";
  std::free(text);
  return out;
}

TEST(EchStrip, AnHttpsRecordLosesItsEchParamAndNothingElse) {
  const Bytes in = https_answer(true);
  ASSERT_NE(ldns_text(in).find("ech="), std::string::npos) << ldns_text(in);
  const EchStrip s = strip_ech_configs(in);
  ASSERT_EQ(s.status, EchStrip::Status::rewritten) << to_string(s.error);
  EXPECT_EQ(s.params_removed, 1u);
  EXPECT_EQ(s.records_dropped, 0u);
  // Byte for byte the answer the upstream would have sent without ECH:
  // RDLENGTH lowered, the pointers to ns1.cdn.test moved with it.
  EXPECT_EQ(s.wire, https_answer(false));
  const std::string text = ldns_text(s.wire);
  EXPECT_EQ(text.find("ech="), std::string::npos) << text;
  EXPECT_NE(text.find("HTTPS\t1 . alpn=h2 ipv4hint=192.0.2.1 ipv6hint=2001:db8::1"), std::string::npos) << text;
  EXPECT_NE(text.find("www.allowed.test.\t300\tIN\tCNAME\tns1.cdn.test."), std::string::npos) << text;
}

TEST(EchStrip, ARewrittenAnswerHasNothingLeftToStrip) {
  const EchStrip once = strip_ech_configs(https_answer(true));
  ASSERT_EQ(once.status, EchStrip::Status::rewritten);
  EXPECT_EQ(strip_ech_configs(once.wire).status, EchStrip::Status::unchanged);
}

TEST(EchStrip, SvcbRecordsInAnySectionAreStrippedToo) {
  auto build = [](bool with_ech) {
    Message m;
    const std::size_t q = m.question("_dns.resolver.test", kDnsTypeSvcb);
    std::vector<Param> params = {kAlpn};
    if (with_ech) params.push_back(kEch);
    m.record(0, pointer(q), kDnsTypeSvcb, svcb_rdata(1, name_bytes("doh.resolver.test"), params));
    m.record(2, name_bytes("alt.resolver.test"), kDnsTypeHttps, svcb_rdata(2, name_bytes(""), params));
    return m.finish();
  };
  const EchStrip s = strip_ech_configs(build(true));
  ASSERT_EQ(s.status, EchStrip::Status::rewritten);
  EXPECT_EQ(s.params_removed, 2u);
  EXPECT_EQ(s.wire, build(false));
}

TEST(EchStrip, AnswersWithoutEchAreLeftAsTheyAre) {
  EXPECT_EQ(strip_ech_configs(https_answer(false)).status, EchStrip::Status::unchanged);
  Message a;
  const std::size_t q = a.question("allowed.test", 1);
  a.record(0, pointer(q), 1, {192, 0, 2, 7});
  const EchStrip s = strip_ech_configs(a.finish());
  EXPECT_EQ(s.status, EchStrip::Status::unchanged);
  EXPECT_TRUE(s.wire.empty());
}

// Records dropped whole, each for one fault; the A record next to them stays.
struct DropCase {
  const char* name;
  Bytes rdata;
};

TEST(EchStrip, RecordsThatNeedEchOrDoNotParseAreDroppedNotRelayed) {
  Bytes compressed_target = {0, 1};
  const Bytes ptr = pointer(12);
  compressed_target.insert(compressed_target.end(), ptr.begin(), ptr.end());
  const std::vector<DropCase> cases = {
      {"ech listed as mandatory", svcb_rdata(1, name_bytes(""), {{0, {0, 5}}, kAlpn, kEch})},
      {"keys out of order", svcb_rdata(1, name_bytes(""), {kIpv6Hint, kAlpn})},
      {"a key twice", svcb_rdata(1, name_bytes(""), {kAlpn, kAlpn})},
      {"a value longer than the record", [] {
         Bytes r = svcb_rdata(1, name_bytes(""), {kAlpn});
         r[r.size() - 4] = 9;  // alpn's length byte claims more than is there
         return r;
       }()},
      {"a key without its length", [] {
         Bytes r = svcb_rdata(1, name_bytes(""), {kAlpn});
         r.push_back(0);
         r.push_back(6);
         return r;
       }()},
      {"a compressed TargetName", compressed_target},
      {"no TargetName", Bytes{0, 1}},
      {"a mandatory list of odd length", svcb_rdata(1, name_bytes(""), {{0, {0}}})},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto build = [&c](bool with_https) {
      Message m;
      const std::size_t q = m.question("www.allowed.test", kDnsTypeHttps);
      if (with_https) m.record(0, pointer(q), kDnsTypeHttps, c.rdata);
      m.record(0, pointer(q), 1, {192, 0, 2, 7});
      return m.finish();
    };
    const EchStrip s = strip_ech_configs(build(true));
    ASSERT_EQ(s.status, EchStrip::Status::rewritten) << to_string(s.error);
    EXPECT_EQ(s.records_dropped, 1u);
    EXPECT_EQ(s.wire, build(false));
  }
}

TEST(EchStrip, APointerIntoTheCutBytesFailsTheMessage) {
  Message m;
  const std::size_t q = m.question("www.allowed.test", kDnsTypeHttps);
  const std::size_t https = m.record(0, pointer(q), kDnsTypeHttps, svcb_rdata(1, name_bytes(""), {kEch}));
  // The ech value starts after owner (2), type, class, TTL, RDLENGTH (10),
  // priority (2), the root target (1), key and length (4).
  m.record(2, pointer(https + 2 + 10 + 2 + 1 + 4), 1, {192, 0, 2, 7});
  const EchStrip s = strip_ech_configs(m.finish());
  ASSERT_EQ(s.status, EchStrip::Status::error);
  EXPECT_EQ(s.error, EchStripError::pointer_into_cut);
  EXPECT_TRUE(s.wire.empty());
}

TEST(EchStrip, MessagesThatDoNotReadAreErrors) {
  const Bytes good = https_answer(true);
  // Every head of the message: counts promise more than there is.
  for (std::size_t cut = 0; cut < good.size(); ++cut) {
    const EchStrip s = strip_ech_configs(std::span(good.data(), cut));
    ASSERT_EQ(s.status, EchStrip::Status::error) << "cut at " << cut;
    EXPECT_EQ(s.error, EchStripError::truncated) << "cut at " << cut;
  }
  Bytes far = good;
  far[12 + name_bytes("www.allowed.test").size() + 4] = 0xc3;  // the answer's owner points past the end
  EXPECT_EQ(strip_ech_configs(far).error, EchStripError::bad_pointer);
  Bytes extended = good;
  extended[12] = 0x41;  // an extended label type (RFC 6891 §5)
  EXPECT_EQ(strip_ech_configs(extended).error, EchStripError::bad_label);
}

}  // namespace
}  // namespace awf::intercept
