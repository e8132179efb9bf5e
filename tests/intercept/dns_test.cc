// Tests of the DNS front end's pieces: query validation, our own answers
// (read back with ldns and by dig), the forward-or-refuse decision, upstream
// answers with CNAME chains, and TCP framing.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <ldns/ldns.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cstdio>
#include <memory>
#include <thread>

#include "awf/intercept/dns_filter.h"
#include "awf/intercept/dns_framing.h"
#include "awf/intercept/dns_message.h"
#include "awf/intercept/netns_sockets.h"
#include "test_support.h"

namespace awf::intercept {
namespace {

using Bytes = std::vector<std::uint8_t>;

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktFree>;

Pkt read_back(const Bytes& wire) {
  ldns_pkt* pkt = nullptr;
  EXPECT_EQ(ldns_wire2pkt(&pkt, wire.data(), wire.size()), LDNS_STATUS_OK);
  return Pkt(pkt);
}

// A query made with ldns, as a stub resolver would send it.
Bytes make_query(const char* name, ldns_rr_type type, std::uint16_t id = 0x1234, bool edns = false,
                 ldns_rr_class klass = LDNS_RR_CLASS_IN) {
  ldns_rdf* owner = ldns_dname_new_frm_str(name);
  Pkt pkt(ldns_pkt_query_new(owner, type, klass, LDNS_RD));
  ldns_pkt_set_id(pkt.get(), id);
  if (edns) ldns_pkt_set_edns_udp_size(pkt.get(), 1232);
  std::uint8_t* wire = nullptr;
  std::size_t size = 0;
  EXPECT_EQ(ldns_pkt2wire(&wire, pkt.get(), &size), LDNS_STATUS_OK);
  Bytes out(wire, wire + size);
  std::free(wire);
  return out;
}

Bytes seed(const char* name) { return test::read_file(test::corpus_dir("dns") / name); }

DnsQuestion question_of(const Bytes& query) {
  auto parsed = parse_dns_query(query);
  EXPECT_TRUE(parsed.ok) << to_string(parsed.error);
  return parsed.question;
}

// ---- queries ----

TEST(DnsQuery, DigQueryIsRead) {
  const auto p = parse_dns_query(seed("query__dig-9.18-a-allowed.test.bin"));
  ASSERT_TRUE(p.ok) << to_string(p.error);
  EXPECT_EQ(p.question.name, "allowed.test");
  EXPECT_TRUE(p.question.is_host_name);
  EXPECT_EQ(p.question.qtype, LDNS_RR_TYPE_A);
  EXPECT_EQ(p.question.qclass, LDNS_RR_CLASS_IN);
  EXPECT_TRUE(p.question.rd);
  EXPECT_TRUE(p.question.has_edns);
  EXPECT_EQ(p.question.udp_payload, 1232u);
}

TEST(DnsQuery, QueryWithoutEdnsMayOnlyGet512Bytes) {
  const auto p = parse_dns_query(seed("query__dig-9.18-txt-noedns.bin"));
  ASSERT_TRUE(p.ok);
  EXPECT_FALSE(p.question.has_edns);
  EXPECT_EQ(p.question.udp_payload, 512u);
  EXPECT_EQ(p.question.name, "_dmarc.allowed.test");
  EXPECT_TRUE(p.question.is_host_name);
}

TEST(DnsQuery, MixedCaseNameIsLoweredButWireNameKeepsCase) {
  const auto p = parse_dns_query(seed("query__dig-9.18-upper-case-0x20.bin"));
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.question.name, "allowed.test");
  const std::string wire(p.question.wire_name.begin(), p.question.wire_name.end());
  EXPECT_NE(wire.find("AlLoWeD"), std::string::npos);
}

TEST(DnsQuery, NameWithOddBytesIsNotAHostName) {
  const auto p = parse_dns_query(seed("query__crafted-escaped-label.bin"));
  ASSERT_TRUE(p.ok);
  EXPECT_FALSE(p.question.is_host_name);
  EXPECT_NE(p.question.name.find('\\'), std::string::npos) << p.question.name;
}

TEST(DnsQuery, RootNameIsEmptyAndNotAHostName) {
  const auto p = parse_dns_query(seed("query__crafted-root-ns.bin"));
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.question.name, "");
  EXPECT_FALSE(p.question.is_host_name);
}

struct BadQuery {
  const char* sentence;
  Bytes packet;
  DnsQueryError error;
};

TEST(DnsQuery, RejectionTable) {
  const std::vector<BadQuery> cases = {
      {"five bytes are no header", seed("too_short__crafted-five-bytes.bin"), DnsQueryError::too_short},
      {"a 5000-byte query is too large", seed("too_large__crafted-5000-bytes.bin"), DnsQueryError::too_large},
      {"a response is not a query", seed("not_a_query__crafted-response-bit.bin"), DnsQueryError::not_a_query},
      {"NOTIFY is a foreign opcode", seed("bad_opcode__crafted-notify.bin"), DnsQueryError::bad_opcode},
      {"UPDATE is a foreign opcode", seed("bad_opcode__crafted-update.bin"), DnsQueryError::bad_opcode},
      {"two questions", seed("question_count__crafted-two-questions.bin"), DnsQueryError::question_count},
      {"no question", seed("question_count__crafted-no-question.bin"), DnsQueryError::question_count},
      {"QDCOUNT past the end", seed("malformed__crafted-qdcount-overruns.bin"), DnsQueryError::malformed},
      {"a compression loop", seed("malformed__crafted-compression-loop.bin"), DnsQueryError::malformed},
      {"a label past the end", seed("malformed__crafted-label-overruns.bin"), DnsQueryError::malformed},
      {"an answer inside a query", seed("malformed__crafted-answer-in-query.bin"), DnsQueryError::malformed},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.sentence);
    ASSERT_FALSE(c.packet.empty());
    const auto p = parse_dns_query(c.packet);
    ASSERT_FALSE(p.ok);
    EXPECT_STREQ(to_string(p.error), to_string(c.error));
  }
}

TEST(DnsQuery, ErrorRepliesCarryIdAndRightCode) {
  const Bytes notify = seed("bad_opcode__crafted-notify.bin");
  auto reply = build_dns_error_reply(notify, DnsQueryError::bad_opcode);
  ASSERT_TRUE(reply.has_value());
  Pkt pkt = read_back(*reply);
  EXPECT_EQ(ldns_pkt_id(pkt.get()), 0x1234);
  EXPECT_TRUE(ldns_pkt_qr(pkt.get()));
  EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_NOTIMPL);
  EXPECT_EQ(ldns_pkt_get_opcode(pkt.get()), LDNS_PACKET_NOTIFY);

  const Bytes two = seed("question_count__crafted-two-questions.bin");
  reply = build_dns_error_reply(two, DnsQueryError::question_count);
  ASSERT_TRUE(reply.has_value());
  pkt = read_back(*reply);
  EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_FORMERR);
  EXPECT_TRUE(ldns_pkt_rd(pkt.get()));
  EXPECT_EQ(ldns_pkt_qdcount(pkt.get()), 0);
}

TEST(DnsQuery, UnassignedOpcodeIsEchoedInNotimp) {
  // Found by fuzzing: opcode 13 has no ldns_pkt_opcode value.
  const Bytes packet = seed("bad_opcode__fuzz-unassigned-opcode-13.bin");
  const auto parsed = parse_dns_query(packet);
  ASSERT_FALSE(parsed.ok);
  ASSERT_EQ(parsed.error, DnsQueryError::bad_opcode);
  auto reply = build_dns_error_reply(packet, parsed.error);
  ASSERT_TRUE(reply.has_value());
  ASSERT_GE(reply->size(), 12u);
  EXPECT_EQ(LDNS_OPCODE_WIRE(reply->data()), 13);
  EXPECT_EQ(LDNS_RCODE_WIRE(reply->data()), LDNS_RCODE_NOTIMPL);
  EXPECT_NE(LDNS_QR_WIRE(reply->data()), 0);
  EXPECT_EQ(LDNS_ID_WIRE(reply->data()), 0x1234);
}

TEST(DnsQuery, ResponsesAndRuntsGetNoReply) {
  EXPECT_FALSE(build_dns_error_reply(seed("not_a_query__crafted-response-bit.bin"), DnsQueryError::not_a_query));
  EXPECT_FALSE(build_dns_error_reply(seed("too_short__crafted-five-bytes.bin"), DnsQueryError::too_short));
}

// ---- our answers ----

TEST(DnsResponse, RefusedEchoesQuestionIdAndRd) {
  const Bytes query = seed("query__dig-9.18-upper-case-0x20.bin");
  const DnsQuestion q = question_of(query);
  for (DnsRcode rcode : {DnsRcode::refused, DnsRcode::nxdomain, DnsRcode::servfail, DnsRcode::formerr}) {
    SCOPED_TRACE(to_string(rcode));
    const Bytes reply = build_dns_response(q, rcode);
    Pkt pkt = read_back(reply);
    ASSERT_TRUE(pkt);
    EXPECT_EQ(ldns_pkt_id(pkt.get()), q.id);
    EXPECT_TRUE(ldns_pkt_qr(pkt.get()));
    EXPECT_TRUE(ldns_pkt_rd(pkt.get()));
    EXPECT_TRUE(ldns_pkt_ra(pkt.get()));
    EXPECT_FALSE(ldns_pkt_tc(pkt.get()));
    EXPECT_EQ(static_cast<int>(ldns_pkt_get_rcode(pkt.get())), static_cast<int>(rcode));
    EXPECT_EQ(ldns_pkt_qdcount(pkt.get()), 1);
    EXPECT_EQ(ldns_pkt_ancount(pkt.get()), 0);
    const ldns_rr* echoed = ldns_rr_list_rr(ldns_pkt_question(pkt.get()), 0);
    const ldns_rdf* owner = ldns_rr_owner(echoed);
    // Byte for byte, case included: resolvers using 0x20 compare it.
    EXPECT_EQ(Bytes(ldns_rdf_data(owner), ldns_rdf_data(owner) + ldns_rdf_size(owner)), q.wire_name);
    EXPECT_EQ(ldns_rr_get_type(echoed), LDNS_RR_TYPE_A);
    EXPECT_TRUE(ldns_pkt_edns(pkt.get()));  // the query had OPT, so the answer has one
  }
}

TEST(DnsResponse, NoOptRecordForAQueryWithoutOne) {
  const DnsQuestion q = question_of(seed("query__dig-9.18-txt-noedns.bin"));
  Pkt pkt = read_back(build_dns_response(q, DnsRcode::refused));
  EXPECT_FALSE(ldns_pkt_edns(pkt.get()));
  EXPECT_EQ(ldns_pkt_arcount(pkt.get()), 0);
}

TEST(DnsResponse, RdIsCopiedWhenClear) {
  Bytes query = make_query("allowed.test.", LDNS_RR_TYPE_A);
  query[2] &= static_cast<std::uint8_t>(~0x01);  // RD off
  const DnsQuestion q = question_of(query);
  EXPECT_FALSE(q.rd);
  Pkt pkt = read_back(build_dns_response(q, DnsRcode::refused));
  EXPECT_FALSE(ldns_pkt_rd(pkt.get()));
}

TEST(DnsResponse, TruncatedAnswerHasTcAndQuestion) {
  const DnsQuestion q = question_of(make_query("allowed.test.", LDNS_RR_TYPE_TXT));
  Pkt pkt = read_back(build_dns_truncated_response(q));
  EXPECT_TRUE(ldns_pkt_tc(pkt.get()));
  EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_NOERROR);
  EXPECT_EQ(ldns_pkt_qdcount(pkt.get()), 1);
}

TEST(DnsResponse, OversizedUdpReplyBecomesTruncated) {
  const DnsQuestion q = question_of(make_query("allowed.test.", LDNS_RR_TYPE_TXT));
  ASSERT_EQ(q.udp_payload, 512u);
  Bytes big(600, 0);
  const Bytes fitted = fit_udp_reply(big, q);
  Pkt pkt = read_back(fitted);
  EXPECT_TRUE(ldns_pkt_tc(pkt.get()));
  Bytes small(100, 7);
  EXPECT_EQ(fit_udp_reply(small, q), small);
}

// ---- decision ----

TEST(DnsDecision, Table) {
  std::string asked;
  const NamePredicate allows = [&asked](std::string_view name) {
    asked = std::string(name);
    return name == "allowed.test" || name == "_dmarc.allowed.test";
  };
  const DnsPolicy allowlist{DnsPolicyMode::allowlist, DnsRcode::refused};
  const DnsPolicy nxdomain{DnsPolicyMode::allowlist, DnsRcode::nxdomain};
  const DnsPolicy open{DnsPolicyMode::open, DnsRcode::refused};
  struct Case {
    const char* sentence;
    Bytes query;
    DnsPolicy policy;
    bool forward;
    DnsRcode rcode;
    DnsReason reason;
  };
  const std::vector<Case> cases = {
      {"an allowed name is forwarded", make_query("allowed.test.", LDNS_RR_TYPE_A), allowlist, true,
       DnsRcode::noerror, DnsReason::allowed},
      {"an allowed name in capitals is forwarded", make_query("ALLOWED.Test.", LDNS_RR_TYPE_AAAA), allowlist, true,
       DnsRcode::noerror, DnsReason::allowed},
      {"a TXT under an allowed name is forwarded", seed("query__dig-9.18-txt-noedns.bin"), allowlist, true,
       DnsRcode::noerror, DnsReason::allowed},
      {"a denied name is refused", make_query("denied.test.", LDNS_RR_TYPE_A), allowlist, false, DnsRcode::refused,
       DnsReason::not_allowed},
      {"a denied name gets NXDOMAIN when configured", make_query("denied.test.", LDNS_RR_TYPE_A), nxdomain, false,
       DnsRcode::nxdomain, DnsReason::not_allowed},
      {"exfiltration labels are refused", seed("query__crafted-exfil-long-labels.bin"), allowlist, false,
       DnsRcode::refused, DnsReason::not_allowed},
      {"odd bytes are refused before the policy", seed("query__crafted-escaped-label.bin"), allowlist, false,
       DnsRcode::refused, DnsReason::invalid_name},
      {"the root is refused", seed("query__crafted-root-ns.bin"), allowlist, false, DnsRcode::refused,
       DnsReason::invalid_name},
      {"open mode forwards a denied name", make_query("denied.test.", LDNS_RR_TYPE_A), open, true, DnsRcode::noerror,
       DnsReason::open_policy},
      {"AXFR is refused even when open", seed("query__crafted-axfr.bin"), open, false, DnsRcode::refused,
       DnsReason::zone_transfer},
      {"AXFR of an allowed name is refused", seed("query__crafted-axfr.bin"), allowlist, false, DnsRcode::refused,
       DnsReason::zone_transfer},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.sentence);
    const DnsDecision d = decide_dns_query(question_of(c.query), c.policy, allows);
    EXPECT_EQ(d.forward, c.forward);
    if (!c.forward) {
      EXPECT_STREQ(to_string(d.rcode), to_string(c.rcode));
    }
    EXPECT_STREQ(to_string(d.reason), to_string(c.reason));
  }
}

TEST(DnsDecision, PredicateSeesLowerCaseNameWithoutDot) {
  std::string asked;
  const NamePredicate allows = [&asked](std::string_view name) {
    asked = std::string(name);
    return false;
  };
  (void)decide_dns_query(question_of(make_query("Api.Allowed.TEST.", LDNS_RR_TYPE_A)), DnsPolicy{}, allows);
  EXPECT_EQ(asked, "api.allowed.test");
}

TEST(DnsDecision, MissingPredicateRefuses) {
  const DnsDecision d = decide_dns_query(question_of(make_query("allowed.test.", LDNS_RR_TYPE_A)), DnsPolicy{}, {});
  EXPECT_FALSE(d.forward);
}

// ---- upstream answers ----

DnsQuestion corpus_question() { return question_of(make_query("allowed.test.", LDNS_RR_TYPE_A, 0x1234)); }

TEST(DnsUpstreamAnswer, AddressesWithTheirTtls) {
  auto a = parse_dns_response(seed("response__crafted-a-records.bin"), corpus_question());
  ASSERT_TRUE(a.ok()) << a.message();
  EXPECT_EQ(a->rcode, 0);
  ASSERT_EQ(a->addresses.size(), 2u);
  EXPECT_EQ(a->addresses[0].to_string(), "127.0.0.10");
  EXPECT_EQ(a->addresses[0].ttl, 300u);
  EXPECT_EQ(a->addresses[1].to_string(), "127.0.0.11");
  EXPECT_EQ(a->addresses[1].ttl, 60u);
  EXPECT_TRUE(a->cname_chain.empty());
  EXPECT_EQ(a->final_name, "allowed.test");
}

TEST(DnsUpstreamAnswer, CnameChainIsFollowedAndBoundsTheTtl) {
  auto a = parse_dns_response(seed("response__crafted-cname-chain.bin"), corpus_question());
  ASSERT_TRUE(a.ok()) << a.message();
  EXPECT_EQ(a->cname_chain, (std::vector<std::string>{"edge.allowed.test", "cdn.allowed.test"}));
  EXPECT_EQ(a->final_name, "cdn.allowed.test");
  ASSERT_EQ(a->addresses.size(), 1u);
  EXPECT_EQ(a->addresses[0].to_string(), "127.0.0.20");
  EXPECT_EQ(a->addresses[0].ttl, 30u);  // the shortest link of the chain
}

TEST(DnsUpstreamAnswer, CnameLoopIsAnError) {
  auto a = parse_dns_response(seed("response__crafted-cname-loop.bin"), corpus_question());
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.message().find("16 hops"), std::string::npos) << a.message();
}

TEST(DnsUpstreamAnswer, RecordsOfOtherNamesAreIgnored) {
  auto a = parse_dns_response(seed("response__crafted-foreign-owner-ignored.bin"), corpus_question());
  ASSERT_TRUE(a.ok()) << a.message();
  ASSERT_EQ(a->addresses.size(), 1u);
  EXPECT_EQ(a->addresses[0].to_string(), "127.0.0.10");
}

TEST(DnsUpstreamAnswer, IdMismatchIsRejected) {
  auto a = parse_dns_response(seed("response__crafted-wrong-id.bin"), corpus_question());
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.message().find("does not match query id"), std::string::npos) << a.message();
}

TEST(DnsUpstreamAnswer, OtherQuestionIsRejected) {
  auto a = parse_dns_response(seed("response__crafted-other-question.bin"), corpus_question());
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.message().find("question does not match"), std::string::npos) << a.message();
}

TEST(DnsUpstreamAnswer, OtherTypeIsRejected) {
  EXPECT_FALSE(parse_dns_response(seed("response__crafted-aaaa.bin"), corpus_question()).ok());
}

TEST(DnsUpstreamAnswer, AaaaAnswerIsRead) {
  const DnsQuestion q = question_of(make_query("allowed.test.", LDNS_RR_TYPE_AAAA, 0x1234));
  auto a = parse_dns_response(seed("response__crafted-aaaa.bin"), q);
  ASSERT_TRUE(a.ok()) << a.message();
  ASSERT_EQ(a->addresses.size(), 1u);
  EXPECT_EQ(a->addresses[0].family, AF_INET6);
  EXPECT_EQ(a->addresses[0].to_string(), "::1");
}

TEST(DnsUpstreamAnswer, NxdomainAndRefusedCarryTheirCode) {
  auto nx = parse_dns_response(seed("response__crafted-nxdomain.bin"), corpus_question());
  ASSERT_TRUE(nx.ok()) << nx.message();
  EXPECT_EQ(nx->rcode, 3);
  EXPECT_TRUE(nx->addresses.empty());
  auto refused = parse_dns_response(seed("response__crafted-refused-no-question.bin"), corpus_question());
  ASSERT_TRUE(refused.ok()) << refused.message();
  EXPECT_EQ(refused->rcode, 5);
}

TEST(DnsUpstreamAnswer, TruncatedIsReported) {
  auto a = parse_dns_response(seed("response__crafted-truncated.bin"), corpus_question());
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->truncated);
}

TEST(DnsUpstreamAnswer, AQueryIsNotAnAnswer) {
  EXPECT_FALSE(parse_dns_response(make_query("allowed.test.", LDNS_RR_TYPE_A, 0x1234), corpus_question()).ok());
}

TEST(DnsUpstreamAnswer, OurOwnRefusalReadsBack) {
  const DnsQuestion q = corpus_question();
  auto a = parse_dns_response(build_dns_response(q, DnsRcode::refused), q);
  ASSERT_TRUE(a.ok()) << a.message();
  EXPECT_EQ(a->rcode, 5);
}

// ---- TCP framing ----

TEST(DnsFraming, SplitAtEveryOffsetNeedsMoreThenDone) {
  const Bytes query = make_query("allowed.test.", LDNS_RR_TYPE_A);
  auto framed = frame_tcp_dns_message(query);
  ASSERT_TRUE(framed.ok());
  for (std::size_t cut = 0; cut < framed->size(); ++cut) {
    EXPECT_EQ(next_tcp_dns_message(std::span(framed->data(), cut)).status, DnsTcpFrame::Status::need_more) << cut;
  }
  const DnsTcpFrame f = next_tcp_dns_message(*framed);
  ASSERT_EQ(f.status, DnsTcpFrame::Status::done);
  EXPECT_EQ(Bytes(f.message.begin(), f.message.end()), query);
  EXPECT_EQ(f.consumed, framed->size());
}

TEST(DnsFraming, PipelinedMessagesComeOneAtATime) {
  const Bytes a = make_query("allowed.test.", LDNS_RR_TYPE_A, 1);
  const Bytes b = make_query("denied.test.", LDNS_RR_TYPE_A, 2);
  Bytes stream = *frame_tcp_dns_message(a);
  const Bytes second = *frame_tcp_dns_message(b);
  stream.insert(stream.end(), second.begin(), second.end());
  const DnsTcpFrame first = next_tcp_dns_message(stream);
  ASSERT_EQ(first.status, DnsTcpFrame::Status::done);
  EXPECT_EQ(Bytes(first.message.begin(), first.message.end()), a);
  const DnsTcpFrame next = next_tcp_dns_message(std::span(stream).subspan(first.consumed));
  ASSERT_EQ(next.status, DnsTcpFrame::Status::done);
  EXPECT_EQ(Bytes(next.message.begin(), next.message.end()), b);
}

TEST(DnsFraming, ZeroLengthIsAnError) {
  EXPECT_EQ(next_tcp_dns_message(Bytes{0, 0, 1}).status, DnsTcpFrame::Status::error);
}

TEST(DnsFraming, OversizedOrEmptyMessageCannotBeFramed) {
  EXPECT_FALSE(frame_tcp_dns_message(Bytes(65536, 0)).ok());
  EXPECT_FALSE(frame_tcp_dns_message(Bytes{}).ok());
  EXPECT_TRUE(frame_tcp_dns_message(Bytes(65535, 0)).ok());
}

// ---- dig against a tiny front end made of these pieces ----

// Answers queries the way the DNS front end will: allowed names get SERVFAIL
// (standing in for the forward to an upstream), others the refusal.
class TinyDnsServer {
 public:
  TinyDnsServer() {
    const ListenerSpec specs[] = {{ListenerKind::dns_udp, "127.0.0.1", 0, 0},
                                  {ListenerKind::dns_tcp, "127.0.0.1", 0, 8}};
    auto opened = open_listeners(specs);
    if (!opened) {
      ADD_FAILURE() << opened.message();
      return;
    }
    udp_ = std::move((*opened)[0].fd);
    tcp_ = std::move((*opened)[1].fd);
    udp_port_ = (*opened)[0].local.port;
    tcp_port_ = (*opened)[1].local.port;
    thread_ = std::thread([this] { serve(); });
  }
  ~TinyDnsServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::uint16_t udp_port() const { return udp_port_; }
  std::uint16_t tcp_port() const { return tcp_port_; }

 private:
  Bytes answer(std::span<const std::uint8_t> query) {
    auto parsed = parse_dns_query(query);
    if (!parsed.ok) return build_dns_error_reply(query, parsed.error).value_or(Bytes{});
    const NamePredicate allows = [](std::string_view name) { return name == "allowed.test"; };
    const DnsDecision d = decide_dns_query(parsed.question, DnsPolicy{}, allows);
    return build_dns_response(parsed.question, d.forward ? DnsRcode::servfail : d.rcode);
  }
  void serve() {
    while (!stop_) {
      pollfd fds[2] = {{udp_.get(), POLLIN, 0}, {tcp_.get(), POLLIN, 0}};
      if (::poll(fds, 2, 100) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        std::uint8_t buf[kMaxDnsQueryBytes + 1];
        sockaddr_storage from{};
        socklen_t from_len = sizeof from;
        const ssize_t n = ::recvfrom(udp_.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
        if (n > 0) {
          const Bytes reply = answer(std::span(buf, static_cast<std::size_t>(n)));
          (void)::sendto(udp_.get(), reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), from_len);
        }
      }
      if (fds[1].revents & POLLIN) {
        UniqueFd conn(::accept4(tcp_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        Bytes buffer;
        while (conn) {
          pollfd cp{conn.get(), POLLIN, 0};
          if (::poll(&cp, 1, 2000) != 1) break;
          std::uint8_t chunk[512];
          const ssize_t n = ::recv(conn.get(), chunk, sizeof chunk, 0);
          if (n <= 0) break;
          buffer.insert(buffer.end(), chunk, chunk + n);
          const DnsTcpFrame f = next_tcp_dns_message(buffer);
          if (f.status == DnsTcpFrame::Status::need_more) continue;
          if (f.status == DnsTcpFrame::Status::error) break;
          auto framed = frame_tcp_dns_message(answer(f.message));
          if (framed.ok()) (void)::send(conn.get(), framed->data(), framed->size(), MSG_NOSIGNAL);
          buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(f.consumed));
        }
      }
    }
  }

  UniqueFd udp_, tcp_;
  std::uint16_t udp_port_ = 0, tcp_port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string dig(const std::string& args) {
  std::string out;
  FILE* pipe = ::popen(("dig +tries=1 +time=3 " + args + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[1024];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  ::pclose(pipe);
  return out;
}

bool have_dig() { return ::system("command -v dig >/dev/null 2>&1") == 0; }

TEST(DnsWithDig, DeniedNameIsRefusedOverUdpAndTcp) {
  AWF_REQUIRE_FACILITY(have_dig(), "dig");
  TinyDnsServer server;
  const std::string udp = dig("@127.0.0.1 -p " + std::to_string(server.udp_port()) + " denied.test A");
  EXPECT_NE(udp.find("status: REFUSED"), std::string::npos) << udp;
  EXPECT_NE(udp.find(";denied.test."), std::string::npos) << udp;  // question echoed
  EXPECT_EQ(udp.find("WARNING"), std::string::npos) << udp;
  const std::string tcp = dig("+tcp @127.0.0.1 -p " + std::to_string(server.tcp_port()) + " denied.test AAAA");
  EXPECT_NE(tcp.find("status: REFUSED"), std::string::npos) << tcp;
}

TEST(DnsWithDig, AllowedNameReachesTheForwardBranch) {
  AWF_REQUIRE_FACILITY(have_dig(), "dig");
  TinyDnsServer server;
  const std::string out = dig("@127.0.0.1 -p " + std::to_string(server.udp_port()) + " allowed.test A");
  EXPECT_NE(out.find("status: SERVFAIL"), std::string::npos) << out;
}

}  // namespace
}  // namespace awf::intercept
