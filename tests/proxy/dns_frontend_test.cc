// Unit tests of the DNS front end's pieces: the refusal's access-log line,
// type names, and the asynchronous upstream exchange against scripted
// loopback upstreams (our own ids, the client's restored, truncation -> TCP,
// answers checked, silent servers and closed ports named, forged ids).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cstring>
#include <optional>
#include <thread>

#include "awf/intercept/dns_message.h"
#include "awf/proxy/access_log.h"
#include "awf/proxy/dns_frontend.h"

namespace awf::proxy {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

// A query for `name` type A with RD set, as dig sends it (no EDNS).
std::vector<std::uint8_t> query_for(const std::string& name, std::uint16_t id, std::uint16_t qtype = 1) {
  std::vector<std::uint8_t> q = {static_cast<std::uint8_t>(id >> 8), static_cast<std::uint8_t>(id), 0x01, 0x00, 0, 1,
                                 0, 0, 0, 0, 0, 0};
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t dot = std::min(name.find('.', start), name.size());
    q.push_back(static_cast<std::uint8_t>(dot - start));
    q.insert(q.end(), name.begin() + static_cast<std::ptrdiff_t>(start), name.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  q.push_back(0);
  q.insert(q.end(), {static_cast<std::uint8_t>(qtype >> 8), static_cast<std::uint8_t>(qtype), 0, 1});
  return q;
}

// The answer to `query`: same id and question, QR+RD+RA, one A record
// unless `truncated`, which sets TC with no records. Over UDP the record is
// 192.0.2.7 (TTL 60), over TCP 192.0.2.8 (TTL 30): a test can tell which
// transport an answer came by.
std::vector<std::uint8_t> answer_to(const std::vector<std::uint8_t>& query, bool truncated, std::uint16_t id,
                                    bool over_tcp = false) {
  std::vector<std::uint8_t> a(query);
  a[0] = static_cast<std::uint8_t>(id >> 8);
  a[1] = static_cast<std::uint8_t>(id);
  a[2] = static_cast<std::uint8_t>(0x81 | (truncated ? 0x02 : 0));
  a[3] = 0x80;
  if (!truncated) {
    a[7] = 1;
    const std::uint8_t ttl = over_tcp ? 30 : 60, last_octet = over_tcp ? 8 : 7;
    const std::uint8_t rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, ttl, 0, 4, 192, 0, 2, last_octet};
    a.insert(a.end(), std::begin(rr), std::end(rr));
  }
  return a;
}

// A scripted upstream on 127.0.0.1 (UDP and TCP on one port, or UDP alone
// with the TCP port closed). Over TCP it reads the query a byte at a time
// and writes the answer in two parts, the first cutting the frame after its
// length and one byte, so the reader must put the frame together.
class FakeUpstream {
 public:
  // other_question: an answer under the query's id to a question it did not ask.
  enum class Udp { answer, truncate, silent, forged_then_answer, other_question };
  enum class Tcp { answer, closed };
  explicit FakeUpstream(Udp udp, Tcp tcp = Tcp::answer) : udp_mode_(udp) {
    udp_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    tcp_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int one = 1;
    ::setsockopt(tcp_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    for (int tries = 0; tries < 20; ++tries) {
      a.sin_port = 0;
      if (::bind(tcp_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) continue;
      socklen_t len = sizeof a;
      ::getsockname(tcp_, reinterpret_cast<sockaddr*>(&a), &len);
      if (::bind(udp_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) break;
      ::close(tcp_);
      tcp_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    }
    port_ = ntohs(a.sin_port);
    if (tcp == Tcp::closed) {
      // Bound only to keep the port for the UDP socket's bind; closed
      // unlistened, connections to it are refused.
      ::close(tcp_);
      tcp_ = -1;
    } else {
      ::listen(tcp_, 8);
    }
    ::pipe2(stop_, O_CLOEXEC);
    thread_ = std::thread([this] { run(); });
  }
  ~FakeUpstream() {
    [[maybe_unused]] auto n = ::write(stop_[1], "x", 1);
    thread_.join();
    for (int f : {udp_, tcp_, stop_[0], stop_[1]}) {
      if (f >= 0) ::close(f);
    }
  }
  std::uint16_t port() const { return port_; }
  int udp_queries() const { return udp_queries_; }
  int tcp_queries() const { return tcp_queries_; }
  std::uint16_t last_udp_query_id() const { return last_udp_query_id_; }

 private:
  void run() {
    for (;;) {
      pollfd p[3] = {{udp_, POLLIN, 0}, {tcp_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (::poll(p, 3, 1000) <= 0) continue;
      if (p[2].revents) return;
      if (p[0].revents) {
        std::uint8_t buf[1500];
        sockaddr_in from{};
        socklen_t len = sizeof from;
        const ssize_t n = ::recvfrom(udp_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n < 12) continue;
        ++udp_queries_;
        std::vector<std::uint8_t> q(buf, buf + n);
        const std::uint16_t id = static_cast<std::uint16_t>((q[0] << 8) | q[1]);
        last_udp_query_id_ = id;
        auto send = [&](const std::vector<std::uint8_t>& r) {
          ::sendto(udp_, r.data(), r.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
        };
        if (udp_mode_ == Udp::answer) send(answer_to(q, false, id));
        if (udp_mode_ == Udp::truncate) send(answer_to(q, true, id));
        if (udp_mode_ == Udp::forged_then_answer) {
          send(answer_to(q, false, static_cast<std::uint16_t>(id + 1)));
          send(answer_to(q, false, id));
        }
        if (udp_mode_ == Udp::other_question) {
          std::vector<std::uint8_t> other = q;
          other[13] = 'b';  // "allowed.test" becomes "bllowed.test"
          send(answer_to(other, false, id));
        }
      }
      if (p[1].revents) {
        const int c = ::accept4(tcp_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        std::vector<std::uint8_t> in;
        std::uint8_t byte = 0;
        while (in.size() < 2 || in.size() < 2u + ((in[0] << 8) | in[1])) {
          if (::recv(c, &byte, 1, 0) != 1) break;
          in.push_back(byte);
        }
        if (in.size() > 14) {
          ++tcp_queries_;
          std::vector<std::uint8_t> q(in.begin() + 2, in.end());
          auto r = answer_to(q, false, static_cast<std::uint16_t>((q[0] << 8) | q[1]), true);
          std::vector<std::uint8_t> framed = {static_cast<std::uint8_t>(r.size() >> 8), static_cast<std::uint8_t>(r.size())};
          framed.insert(framed.end(), r.begin(), r.end());
          [[maybe_unused]] auto n = ::send(c, framed.data(), 3, MSG_NOSIGNAL);
          ::usleep(20000);
          n = ::send(c, framed.data() + 3, framed.size() - 3, MSG_NOSIGNAL);
        }
        ::close(c);
      }
    }
  }
  Udp udp_mode_;
  int udp_ = -1, tcp_ = -1;
  int stop_[2] = {-1, -1};
  std::uint16_t port_ = 0;
  std::atomic<int> udp_queries_{0}, tcp_queries_{0};
  std::atomic<std::uint16_t> last_udp_query_id_{0};
  std::thread thread_;
};

struct Outcome {
  std::optional<Result<intercept::ForwardedAnswer>> result;
  std::chrono::milliseconds took{0};
};

Outcome forward(std::vector<std::uint16_t> ports, std::chrono::milliseconds timeout) {
  asio::io_context io;
  std::vector<asio::ip::udp::endpoint> servers;
  for (auto p : ports) servers.emplace_back(asio::ip::make_address("127.0.0.1"), p);
  const auto q = query_for("allowed.test", 0x1234);
  auto parsed = intercept::parse_dns_query(q);
  EXPECT_TRUE(parsed.ok);
  Outcome out;
  const auto t0 = std::chrono::steady_clock::now();
  forward_dns_query_async(io.get_executor(), servers, q, parsed.question, timeout,
                          [&](Result<intercept::ForwardedAnswer> r) { out.result.emplace(std::move(r)); });
  io.run_for(10s);
  out.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  return out;
}

// The error of an exchange that must fail; the test fails, and the answer
// is "", when there was no result or it was an answer.
std::string failure_of(const Outcome& o) {
  EXPECT_TRUE(o.result) << "no result";
  EXPECT_FALSE(o.result && o.result->ok()) << "an answer where a failure was expected";
  return o.result && !o.result->ok() ? o.result->message() : "";
}

TEST(DnsUpstreamAsync, AnAnswerComesBackUnderTheClientsIdWithItsAddresses) {
  FakeUpstream up(FakeUpstream::Udp::answer);
  Outcome o = forward({up.port()}, 2s);
  ASSERT_TRUE(o.result && o.result->ok()) << (o.result ? o.result->message() : "no result");
  const auto& a = o.result->value();
  EXPECT_EQ(a.wire[0], 0x12);
  EXPECT_EQ(a.wire[1], 0x34);
  ASSERT_EQ(a.answer.addresses.size(), 1u);
  EXPECT_EQ(a.answer.addresses[0].to_string(), "192.0.2.7");
  EXPECT_EQ(a.answer.addresses[0].ttl, 60u);
  EXPECT_EQ(up.tcp_queries(), 0);
  EXPECT_EQ(up.udp_queries(), 1);
  EXPECT_NE(up.last_udp_query_id(), 0x1234) << "the client's id went upstream (1 in 65536 by chance)";
}

TEST(DnsUpstreamAsync, ATruncatedUdpAnswerIsAskedAgainOverTcp) {
  FakeUpstream up(FakeUpstream::Udp::truncate);
  Outcome o = forward({up.port()}, 2s);
  ASSERT_TRUE(o.result && o.result->ok()) << (o.result ? o.result->message() : "no result");
  const auto& a = o.result->value();
  EXPECT_FALSE(a.answer.truncated);
  // The TCP answer, read through a frame that came in two parts.
  ASSERT_EQ(a.answer.addresses.size(), 1u);
  EXPECT_EQ(a.answer.addresses[0].to_string(), "192.0.2.8");
  EXPECT_EQ(a.answer.addresses[0].ttl, 30u);
  EXPECT_EQ(a.wire[0], 0x12);
  EXPECT_EQ(a.wire[1], 0x34);
  EXPECT_EQ(up.udp_queries(), 1);
  EXPECT_EQ(up.tcp_queries(), 1);
}

TEST(DnsUpstreamAsync, ATruncatedAnswerFromAServerWithoutTcpNamesItsTcpPort) {
  FakeUpstream up(FakeUpstream::Udp::truncate, FakeUpstream::Tcp::closed);
  const std::string error = failure_of(forward({up.port()}, 1s));
  EXPECT_NE(error.find("tcp DNS upstream 127.0.0.1:" + std::to_string(up.port()) + ": connect"), std::string::npos)
      << error;
  EXPECT_EQ(up.udp_queries(), 1);
}

TEST(DnsUpstreamAsync, ASilentServerTimesOutWithAnErrorNamingItAndTheDeadline) {
  FakeUpstream silent(FakeUpstream::Udp::silent);
  Outcome o = forward({silent.port()}, 300ms);
  const std::string error = failure_of(o);
  EXPECT_NE(error.find("udp DNS upstream 127.0.0.1:" + std::to_string(silent.port())), std::string::npos) << error;
  EXPECT_NE(error.find("no answer within 300 ms"), std::string::npos) << error;
  EXPECT_GE(o.took, 300ms);
  EXPECT_LT(o.took, 2s);
}

TEST(DnsUpstreamAsync, AnAnswerToAnotherQuestionIsRejectedNamingTheServer) {
  FakeUpstream up(FakeUpstream::Udp::other_question);
  const std::string error = failure_of(forward({up.port()}, 1s));
  EXPECT_NE(error.find("udp DNS upstream 127.0.0.1:" + std::to_string(up.port()) + ": "), std::string::npos) << error;
  EXPECT_NE(error.find("question does not match"), std::string::npos) << error;
}

TEST(DnsUpstreamAsync, ASilentServerIsLeftAtItsDeadlineForTheNextOne) {
  FakeUpstream silent(FakeUpstream::Udp::silent), good(FakeUpstream::Udp::answer);
  Outcome o = forward({silent.port(), good.port()}, 300ms);
  ASSERT_TRUE(o.result && o.result->ok()) << (o.result ? o.result->message() : "no result");
  EXPECT_GE(o.took, 300ms);
  EXPECT_LT(o.took, 3s);
}

TEST(DnsUpstreamAsync, WhenEveryServerFailsTheErrorNamesEachOfThem) {
  FakeUpstream a(FakeUpstream::Udp::silent), b(FakeUpstream::Udp::silent);
  const std::string error = failure_of(forward({a.port(), b.port()}, 200ms));
  EXPECT_NE(error.find("127.0.0.1:" + std::to_string(a.port())), std::string::npos) << error;
  EXPECT_NE(error.find("127.0.0.1:" + std::to_string(b.port())), std::string::npos) << error;
}

TEST(DnsUpstreamAsync, AnswersWithAnotherIdAreIgnored) {
  FakeUpstream up(FakeUpstream::Udp::forged_then_answer);
  Outcome o = forward({up.port()}, 2s);
  ASSERT_TRUE(o.result && o.result->ok()) << (o.result ? o.result->message() : "no result");
  EXPECT_EQ(o.result->value().answer.addresses.size(), 1u);
}

TEST(DnsUpstreamAsync, NoServerAtAllIsAnError) {
  failure_of(forward({}, 200ms));
}

TEST(DnsRefusalLog, TheLineNamesTheQueryAsHostAndUrlWithDnsAsMethod) {
  auto parsed = intercept::parse_dns_query(query_for("Exfil.Denied.Test", 7, 16));
  ASSERT_TRUE(parsed.ok);
  LogRecord r = dns_refusal_record("127.0.0.1", 40000, parsed.question);
  const std::string line = format_firewall_detailed(r);
  // ts client host dest version method status code url "ua"
  const std::string tail = line.substr(line.find(' ') + 1);
  EXPECT_EQ(tail, "127.0.0.1:40000 exfil.denied.test -:- - DNS 403 TCP_DENIED:HIER_NONE dns://exfil.denied.test/TXT \"-\"");
  const std::string native = format_squid_native(r);
  EXPECT_NE(native.find("127.0.0.1 TCP_DENIED/403 0 DNS dns://exfil.denied.test/TXT - HIER_NONE/- -"), std::string::npos)
      << native;
  const std::string audit = format_audit_jsonl(r, "1");
  EXPECT_NE(audit.find("\"method\":\"DNS\""), std::string::npos) << audit;
  EXPECT_NE(audit.find("\"decision\":\"TCP_DENIED\""), std::string::npos) << audit;
}

TEST(InterceptLog, AuditLinesOfInterceptedConnectionsCarryTheOriginalDestination) {
  LogRecord r;
  r.method = "CONNECT";
  r.url = "allowed.test:443";
  const std::string plain = format_audit_jsonl(r, "1");
  EXPECT_EQ(plain.find("original_dest"), std::string::npos) << plain;  // forward mode: awf's shape
  r.original_dest = "203.0.113.9:443";
  const std::string intercepted = format_audit_jsonl(r, "1");
  EXPECT_NE(intercepted.find(",\"url\":\"allowed.test:443\",\"original_dest\":\"203.0.113.9:443\"}"),
            std::string::npos)
      << intercepted;
}

TEST(DnsUpstreams, ServersTakeEveryAddressFormAndPort53ByDefault) {
  auto u = dns_upstreams({"127.0.0.1", "127.0.0.2:5353", "[::1]:54", "::1"});
  ASSERT_TRUE(u) << u.message();
  ASSERT_EQ(u->size(), 4u);
  EXPECT_EQ((*u)[0].port(), 53);
  EXPECT_EQ((*u)[1].port(), 5353);
  EXPECT_EQ((*u)[2].address().to_string(), "::1");
  EXPECT_EQ((*u)[2].port(), 54);
  EXPECT_EQ((*u)[3].port(), 53);
  for (const char* bad : {"localhost", "127.0.0.1:0", "127.0.0.1:99999", "[::1", "[::1]x", "127.0.0.1:5x"}) {
    auto r = dns_upstreams({bad});
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.message().find(bad), std::string::npos) << r.message();
  }
}

TEST(DnsUpstreams, WithoutServersTheNameserversOfResolvConfAreUsed) {
  char path[] = "/tmp/awf-resolv-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string text = "# comment\nsearch example.test\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\n";
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(fd);
  auto u = dns_upstreams({}, path);
  ::unlink(path);
  ASSERT_TRUE(u);
  ASSERT_EQ(u->size(), 2u);
  EXPECT_EQ((*u)[0].address().to_string(), "127.0.0.53");
  EXPECT_EQ((*u)[1].address().to_string(), "fe80::1");
}

TEST(DnsRefusalLog, TypesHaveTheirMnemonicOrTheRfc3597Form) {
  EXPECT_EQ(dns_type_name(1), "A");
  EXPECT_EQ(dns_type_name(28), "AAAA");
  EXPECT_EQ(dns_type_name(65), "HTTPS");
  EXPECT_EQ(dns_type_name(252), "AXFR");
  EXPECT_EQ(dns_type_name(4242), "TYPE4242");
}

}  // namespace
}  // namespace awf::proxy
