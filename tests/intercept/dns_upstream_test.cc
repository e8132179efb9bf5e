// Tests of forwarding to an upstream resolver: our own ids, the client's id
// restored, UDP then TCP on truncation, stray replies skipped, deadlines. The
// upstream is a small ldns responder on 127.0.0.1.
#include "awf/intercept/dns_upstream.h"

#include <gtest/gtest.h>
#include <ldns/ldns.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <set>
#include <thread>

#include "awf/intercept/dns_framing.h"
#include "awf/intercept/netns_sockets.h"
#include "test_support.h"

namespace awf::intercept {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes to_wire(ldns_pkt* pkt) {
  std::uint8_t* wire = nullptr;
  std::size_t size = 0;
  if (ldns_pkt2wire(&wire, pkt, &size) != LDNS_STATUS_OK) return {};
  Bytes out(wire, wire + size);
  std::free(wire);
  return out;
}

// The upstream: answers allowed.test A, truncates big.allowed.test over UDP,
// sends a forged reply before the real one for spoof.allowed.test, and never
// answers silent.allowed.test.
class FakeUpstream {
 public:
  FakeUpstream() {
    // UDP and TCP on the same port, as a real resolver has them.
    for (int attempt = 0; attempt < 20 && !tcp_; ++attempt) {
      const ListenerSpec udp_spec{ListenerKind::dns_udp, "127.0.0.1", 0, 0};
      auto udp = open_listeners(std::span(&udp_spec, 1));
      if (!udp) {
        ADD_FAILURE() << udp.message();
        return;
      }
      const ListenerSpec tcp_spec{ListenerKind::dns_tcp, "127.0.0.1", udp->front().local.port, 8};
      auto tcp = open_listeners(std::span(&tcp_spec, 1));
      if (!tcp) continue;  // that TCP port was taken: another round
      udp_ = std::move(udp->front().fd);
      tcp_ = std::move(tcp->front().fd);
      address_ = udp->front().local;
    }
    if (!tcp_) {
      ADD_FAILURE() << "no port free for both UDP and TCP";
      return;
    }
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeUpstream() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  SocketAddress address() const { return address_; }
  std::atomic<int> tcp_queries{0};
  std::atomic<std::uint16_t> last_id{0};

 private:
  std::vector<Bytes> answers(const Bytes& query, bool over_tcp) {
    ldns_pkt* pkt = nullptr;
    if (ldns_wire2pkt(&pkt, query.data(), query.size()) != LDNS_STATUS_OK) return {};
    last_id = ldns_pkt_id(pkt);
    char* name = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(pkt), 0)));
    const std::string qname = name;
    std::free(name);
    ldns_pkt_set_qr(pkt, true);
    ldns_pkt_set_ra(pkt, true);
    std::vector<Bytes> out;
    if (qname == "silent.allowed.test.") {
    } else if (qname == "big.allowed.test." && !over_tcp) {
      ldns_pkt_set_tc(pkt, true);
      out.push_back(to_wire(pkt));
    } else {
      const std::string record = qname == "big.allowed.test." ? qname + " 60 IN A 127.0.0.30"
                                                              : qname + " 300 IN A 127.0.0.10";
      ldns_rr* rr = nullptr;
      ldns_rr_new_frm_str(&rr, record.c_str(), 0, nullptr, nullptr);
      ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, rr);
      Bytes good = to_wire(pkt);
      if (qname == "spoof.allowed.test.") {
        Bytes forged = good;
        forged[1] = static_cast<std::uint8_t>(forged[1] + 1);
        out.push_back(forged);
      }
      out.push_back(good);
    }
    ldns_pkt_free(pkt);
    return out;
  }

  void serve() {
    while (!stop_) {
      pollfd fds[2] = {{udp_.get(), POLLIN, 0}, {tcp_.get(), POLLIN, 0}};
      if (::poll(fds, 2, 50) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        Bytes buf(65535);
        sockaddr_storage from{};
        socklen_t from_len = sizeof from;
        const ssize_t n = ::recvfrom(udp_.get(), buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
        if (n > 0) {
          buf.resize(static_cast<std::size_t>(n));
          for (const auto& reply : answers(buf, false)) {
            (void)::sendto(udp_.get(), reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), from_len);
          }
        }
      }
      if (fds[1].revents & POLLIN) {
        ++tcp_queries;
        UniqueFd conn(::accept4(tcp_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        Bytes buffer;
        while (conn) {
          pollfd cp{conn.get(), POLLIN, 0};
          if (::poll(&cp, 1, 2000) != 1) break;
          std::uint8_t chunk[1];  // one byte at a time: the client's framing must cope
          const ssize_t n = ::recv(conn.get(), chunk, sizeof chunk, 0);
          if (n <= 0) break;
          buffer.push_back(chunk[0]);
          const DnsTcpFrame f = next_tcp_dns_message(buffer);
          if (f.status != DnsTcpFrame::Status::done) continue;
          for (const auto& reply : answers(Bytes(f.message.begin(), f.message.end()), true)) {
            auto framed = frame_tcp_dns_message(reply);
            // Dribbled out in two writes, so the reader sees a partial frame.
            (void)::send(conn.get(), framed->data(), 3, MSG_NOSIGNAL);
            ::usleep(20000);
            (void)::send(conn.get(), framed->data() + 3, framed->size() - 3, MSG_NOSIGNAL);
          }
          break;
        }
      }
    }
  }

  UniqueFd udp_, tcp_;
  SocketAddress address_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

Bytes query_for(const char* name, ldns_rr_type type, std::uint16_t id) {
  ldns_pkt* pkt = ldns_pkt_query_new(ldns_dname_new_frm_str(name), type, LDNS_RR_CLASS_IN, LDNS_RD);
  ldns_pkt_set_id(pkt, id);
  Bytes out = to_wire(pkt);
  ldns_pkt_free(pkt);
  return out;
}

TEST(DnsForward, IdsAreOursUpstreamAndTheClientsOnTheWayBack) {
  const Bytes query = query_for("allowed.test.", LDNS_RR_TYPE_A, 0x0101);
  const DnsQuestion q = parse_dns_query(query).question;
  const UpstreamQuery up = make_upstream_query(query, q, 0xbeef);
  EXPECT_EQ(LDNS_ID_WIRE(up.wire.data()), 0xbeef);
  EXPECT_EQ(up.question.id, 0xbeef);
  EXPECT_EQ(up.client_id, 0x0101);
  EXPECT_TRUE(std::equal(up.wire.begin() + 2, up.wire.end(), query.begin() + 2));
  const Bytes back = answer_for_client(up.wire, up);
  EXPECT_EQ(LDNS_ID_WIRE(back.data()), 0x0101);
}

TEST(DnsForward, RandomIdsVary) {
  std::set<std::uint16_t> seen;
  for (int i = 0; i < 64; ++i) seen.insert(random_dns_id());
  EXPECT_GT(seen.size(), 32u);
}

TEST(DnsForward, ForwardOverUdpGivesAddressesAndClientId) {
  FakeUpstream upstream;
  const Bytes query = query_for("allowed.test.", LDNS_RR_TYPE_A, 0x4242);
  const DnsQuestion q = parse_dns_query(query).question;
  auto r = forward_dns_query(upstream.address(), query, q, std::chrono::milliseconds(2000));
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(LDNS_ID_WIRE(r->wire.data()), 0x4242);
  EXPECT_NE(upstream.last_id.load(), 0x4242) << "the client's id went upstream (1 in 65536 by chance)";
  ASSERT_EQ(r->answer.addresses.size(), 1u);
  EXPECT_EQ(r->answer.addresses[0].to_string(), "127.0.0.10");
  EXPECT_EQ(r->answer.addresses[0].ttl, 300u);
}

TEST(DnsForward, ForgedReplyWithAnotherIdIsSkipped) {
  FakeUpstream upstream;
  const Bytes query = query_for("spoof.allowed.test.", LDNS_RR_TYPE_A, 7);
  auto r = forward_dns_query(upstream.address(), query, parse_dns_query(query).question,
                             std::chrono::milliseconds(2000));
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_EQ(r->answer.addresses.size(), 1u);
}

TEST(DnsForward, TruncatedUdpAnswerIsRetriedOverTcp) {
  FakeUpstream upstream;
  const Bytes query = query_for("big.allowed.test.", LDNS_RR_TYPE_A, 9);
  auto r = forward_dns_query(upstream.address(), query, parse_dns_query(query).question,
                             std::chrono::milliseconds(2000));
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_FALSE(r->answer.truncated);
  ASSERT_EQ(r->answer.addresses.size(), 1u);
  EXPECT_EQ(r->answer.addresses[0].to_string(), "127.0.0.30");
  EXPECT_EQ(upstream.tcp_queries.load(), 1);
  EXPECT_EQ(LDNS_ID_WIRE(r->wire.data()), 9);
}

TEST(DnsForward, TcpExchangeCopesWithByteByByteReadsAndSplitAnswers) {
  FakeUpstream upstream;
  const Bytes query = query_for("allowed.test.", LDNS_RR_TYPE_A, 0x7777);
  auto tcp = exchange_tcp(upstream.address(), query, std::chrono::milliseconds(2000));
  ASSERT_TRUE(tcp.ok()) << tcp.message();
  auto answer = parse_dns_response(*tcp, parse_dns_query(query).question);
  ASSERT_TRUE(answer.ok()) << answer.message();
  EXPECT_EQ(answer->addresses.size(), 1u);
}

TEST(DnsForward, SilentUpstreamTimesOutNamingIt) {
  FakeUpstream upstream;
  const Bytes query = query_for("silent.allowed.test.", LDNS_RR_TYPE_A, 3);
  const auto start = std::chrono::steady_clock::now();
  auto r = forward_dns_query(upstream.address(), query, parse_dns_query(query).question,
                             std::chrono::milliseconds(300));
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("udp DNS upstream " + upstream.address().to_string()), std::string::npos)
      << r.message();
  EXPECT_NE(r.message().find("no answer within 300 ms"), std::string::npos) << r.message();
  EXPECT_LT(took, std::chrono::seconds(2));
}

TEST(DnsForward, ClosedTcpPortIsNamed) {
  // A port nothing listens on: bind one, note it, close it.
  SocketAddress closed;
  {
    const ListenerSpec spec{ListenerKind::dns_tcp, "127.0.0.1", 0, 1};
    auto opened = open_listeners(std::span(&spec, 1));
    ASSERT_TRUE(opened.ok());
    closed = opened->front().local;
  }
  const Bytes query = query_for("allowed.test.", LDNS_RR_TYPE_A, 3);
  auto r = exchange_tcp(closed, query, std::chrono::milliseconds(1000));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("tcp DNS upstream " + closed.to_string() + ": connect"), std::string::npos)
      << r.message();
}

}  // namespace
}  // namespace awf::intercept
