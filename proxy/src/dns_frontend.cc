// The filtering DNS front end: UDP service and TCP sessions over one query
// handler (parse, decide, refuse and log, or forward), and the asynchronous
// upstream exchange (UDP, TCP on truncation, deadlines, our own ids).
#include "awf/proxy/dns_frontend.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>

#include "awf/host_port.h"
#include "awf/intercept/dns_ech.h"
#include "awf/intercept/dns_filter.h"
#include "awf/intercept/dns_framing.h"
#include "awf/proxy/context.h"
#include "awf/proxy/upstream.h"

namespace awf::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using udp = asio::ip::udp;
using Clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;
using intercept::DnsQuestion;

std::string dns_type_name(std::uint16_t qtype) {
  switch (qtype) {
    case 1: return "A";
    case 2: return "NS";
    case 5: return "CNAME";
    case 6: return "SOA";
    case 12: return "PTR";
    case 15: return "MX";
    case 16: return "TXT";
    case 28: return "AAAA";
    case 33: return "SRV";
    case 35: return "NAPTR";
    case 43: return "DS";
    case 48: return "DNSKEY";
    case 64: return "SVCB";
    case 65: return "HTTPS";
    case 251: return "IXFR";
    case 252: return "AXFR";
    case 255: return "ANY";
    case 257: return "CAA";
    default: return "TYPE" + std::to_string(qtype);
  }
}

Result<std::vector<udp::endpoint>> dns_upstreams(const std::vector<std::string>& servers,
                                                 const std::string& resolv_conf) {
  std::vector<udp::endpoint> out;
  for (const auto& text : servers) {
    auto bad = [&] { return Error{"--dns-servers \"" + text + "\": expected IP, IP:PORT or [IPv6]:PORT"}; };
    const HostPort split = split_host_port(text);
    if (split.fault != HostPort::Fault::none) return bad();
    // A bare IPv6 address (`::1`) is all address, on port 53.
    const bool bare_v6 = split.has_bare_colons();
    const std::string_view port_text = bare_v6 ? std::string_view() : split.port_text;
    std::uint16_t port = 53;
    if (!port_text.empty()) {
      const std::optional<std::uint16_t> given = parse_port(port_text);
      if (!given || *given == 0) return bad();
      port = *given;
    }
    error_code ec;
    const auto address = asio::ip::make_address(bare_v6 ? std::string_view(text) : split.host, ec);
    if (ec) return bad();
    out.emplace_back(address, port);
  }
  if (!out.empty()) return out;
  // Best effort: without a resolv.conf every forwarded query gets SERVFAIL,
  // with the reason in the diagnostics.
  std::ifstream in(resolv_conf);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string keyword, address;
    if (!(words >> keyword >> address) || keyword != "nameserver") continue;
    if (const auto pct = address.find('%'); pct != std::string::npos) address.resize(pct);  // fe80::1%eth0
    error_code ec;
    const auto a = asio::ip::make_address(address, ec);
    if (!ec) out.emplace_back(a, 53);
  }
  return out;
}

LogRecord dns_refusal_record(const std::string& client_ip, std::uint16_t client_port, const DnsQuestion& question) {
  LogRecord r;
  r.time = std::chrono::system_clock::now();
  r.client_ip = client_ip;
  r.client_port = client_port;
  // The name as ldns presents it: escapes (\DDD) keep odd bytes printable,
  // and the log's token quoting takes care of the rest.
  r.host = question.name.empty() ? "." : question.name;
  r.dest = "-:-";
  r.version = "-";
  r.method = "DNS";
  r.status = 403;
  r.code = ResultCode::tcp_denied;
  r.hierarchy = Hierarchy::none;
  r.url = "dns://" + r.host + "/" + dns_type_name(question.qtype);
  return r;
}

// ------------------------------------------------------------ upstream

namespace {

constexpr std::size_t kMaxInFlightPerSocket = 1024;  // forwarded UDP queries per listener socket
// Between queries; RFC 7766 §6.2.3 suggests seconds, not minutes. Once a
// query's first byte is in, --dns-tcp-timeout bounds the rest of it.
constexpr auto kTcpIdle = std::chrono::seconds(10);

std::uint16_t wire_id(std::span<const std::uint8_t> wire) {
  return static_cast<std::uint16_t>((wire[0] << 8) | wire[1]);
}

class DnsExchange : public std::enable_shared_from_this<DnsExchange> {
 public:
  DnsExchange(const asio::any_io_executor& executor, std::vector<udp::endpoint> servers, intercept::UpstreamQuery query,
              std::chrono::milliseconds timeout, DnsForwardDone done)
      : executor_(executor),
        servers_(std::move(servers)),
        query_(std::move(query)),
        timeout_(timeout),
        done_(std::move(done)),
        timer_(executor) {}

  void start() {
    if (servers_.empty()) return finish(Error{"no DNS upstream configured (--dns-servers, /etc/resolv.conf)"});
    try_udp();
  }

 private:
  std::string where(const char* transport) const {
    const auto& ep = servers_[server_];
    std::string a = ep.address().to_string();
    if (ep.address().is_v6()) a = "[" + a + "]";
    return std::string(transport) + " DNS upstream " + a + ":" + std::to_string(ep.port());
  }

  void arm(const char* transport) {
    const unsigned attempt = attempt_;
    timer_.expires_after(timeout_);
    timer_.async_wait([self = shared_from_this(), attempt, transport](const error_code& ec) {
      if (ec || attempt != self->attempt_) return;
      self->next_server(self->where(transport) + ": no answer within " + std::to_string(self->timeout_.count()) +
                        " ms");
    });
  }

  void try_udp() {
    const unsigned attempt = ++attempt_;
    close_sockets();
    udp_.emplace(executor_);
    error_code ec;
    udp_->open(servers_[server_].protocol(), ec);
    // A connected socket: the kernel drops datagrams from anyone but the server.
    if (!ec) udp_->connect(servers_[server_], ec);
    if (ec) return next_server(where("udp") + ": " + ec.message());
    arm("udp");
    udp_->async_send(asio::buffer(query_.wire), [self = shared_from_this(), attempt](const error_code& e, std::size_t) {
      if (attempt != self->attempt_) return;
      if (e) return self->next_server(self->where("udp") + ": send: " + e.message());
      self->receive_udp();
    });
  }

  void receive_udp() {
    const unsigned attempt = attempt_;
    rx_.resize(intercept::kMaxDnsMessageBytes);
    udp_->async_receive(asio::buffer(rx_), [self = shared_from_this(), attempt](const error_code& e, std::size_t n) {
      if (attempt != self->attempt_) return;
      // ECONNREFUSED: an ICMP port unreachable came back for our datagram.
      if (e) return self->next_server(self->where("udp") + ": receive: " + e.message());
      self->rx_.resize(n);
      // Another id: stale or forged; keep waiting for ours until the deadline.
      if (n < intercept::kDnsHeaderBytes || wire_id(self->rx_) != self->query_.question.id) {
        return self->receive_udp();
      }
      self->on_answer("udp");
    });
  }

  void try_tcp() {
    const unsigned attempt = ++attempt_;
    close_sockets();
    auto framed = intercept::frame_tcp_dns_message(query_.wire);
    if (!framed) return next_server(where("tcp") + ": " + framed.message());
    framed_ = std::move(*framed);
    tcp_.emplace(executor_);
    arm("tcp");
    tcp_->async_connect(tcp::endpoint(servers_[server_].address(), servers_[server_].port()),
                        [self = shared_from_this(), attempt](const error_code& e) {
                          if (attempt != self->attempt_) return;
                          if (e) return self->next_server(self->where("tcp") + ": connect: " + e.message());
                          self->send_tcp();
                        });
  }

  void send_tcp() {
    const unsigned attempt = attempt_;
    asio::async_write(*tcp_, asio::buffer(framed_), [self = shared_from_this(), attempt](const error_code& e, std::size_t) {
      if (attempt != self->attempt_) return;
      if (e) return self->next_server(self->where("tcp") + ": send: " + e.message());
      self->rx_.resize(2);
      asio::async_read(*self->tcp_, asio::buffer(self->rx_), [self, attempt](const error_code& e2, std::size_t) {
        if (attempt != self->attempt_) return;
        if (e2) return self->next_server(self->where("tcp") + ": reading the length: " + e2.message());
        const std::size_t length = wire_id(self->rx_);  // same two-byte big-endian shape
        if (length < intercept::kDnsHeaderBytes) {
          return self->next_server(self->where("tcp") + ": answer shorter than a DNS header");
        }
        self->rx_.resize(length);
        asio::async_read(*self->tcp_, asio::buffer(self->rx_), [self, attempt](const error_code& e3, std::size_t) {
          if (attempt != self->attempt_) return;
          if (e3) return self->next_server(self->where("tcp") + ": reading the answer: " + e3.message());
          self->on_answer("tcp");
        });
      });
    });
  }

  void on_answer(const char* transport) {
    auto answer = intercept::parse_dns_response(rx_, query_.question);
    if (!answer) return next_server(where(transport) + ": " + answer.message());
    if (answer->truncated) {
      // RFC 7766 §5: the whole answer is only available over TCP.
      if (std::string_view(transport) == "udp") return try_tcp();
      return next_server(where(transport) + ": truncated answer over TCP");
    }
    finish(intercept::ForwardedAnswer{intercept::answer_for_client(rx_, query_), std::move(answer.value())});
  }

  void next_server(const std::string& error) {
    ++attempt_;  // every pending handler of the last attempt stands down
    if (!errors_.empty()) errors_ += "; ";
    errors_ += error;
    if (++server_ < servers_.size()) return try_udp();
    finish(Error{errors_});
  }

  void finish(Result<intercept::ForwardedAnswer> result) {
    ++attempt_;
    timer_.cancel();
    close_sockets();
    if (!done_) return;
    auto done = std::move(done_);
    done_ = nullptr;
    done(std::move(result));
  }

  void close_sockets() {
    error_code ec;
    if (udp_) udp_->close(ec);
    if (tcp_) tcp_->close(ec);
  }

  asio::any_io_executor executor_;
  std::vector<udp::endpoint> servers_;
  intercept::UpstreamQuery query_;
  std::chrono::milliseconds timeout_;
  DnsForwardDone done_;
  asio::steady_timer timer_;
  std::optional<udp::socket> udp_;
  std::optional<tcp::socket> tcp_;
  std::vector<std::uint8_t> framed_, rx_;
  std::size_t server_ = 0;
  unsigned attempt_ = 0;
  std::string errors_;
};

// ------------------------------------------------------------- queries

// A failing upstream fails every query while it lasts, and any client can
// send queries by the thousand: one warning a second per thread, with the
// number left out, rather than one per query.
void warn_for_query(const std::string& text) {
  thread_local Clock::time_point last{};
  thread_local std::uint64_t left_out = 0;
  const auto now = Clock::now();
  if (now - last < std::chrono::seconds(1)) {
    ++left_out;
    return;
  }
  last = now;
  if (left_out) {
    spdlog::warn("{} (and {} more DNS upstream warnings since the last one)", text, left_out);
  } else {
    spdlog::warn("{}", text);
  }
  left_out = 0;
}

// Writes a summary of folded refusals (and says so on stderr) or a record.
void write_refusal(ProxyContext& ctx, LogRecord record) {
  if (record.repeated) {
    spdlog::info("dns client {}: refused {} {} more times", record.client_ip, record.url, record.repeated);
  }
  ctx.log->write(std::move(record));
}

void sweep_refusals_later(Worker& worker) {
  if (worker.dns_refusal_sweep_armed || worker.context.draining) return;
  const auto next = worker.dns_refusals.sweep(Clock::now(), [&ctx = worker.context](LogRecord r) {
    write_refusal(ctx, std::move(r));
  });
  if (!next) return;
  worker.dns_refusal_sweep_armed = true;
  worker.dns_refusal_sweep.expires_at(*next);
  worker.dns_refusal_sweep.async_wait([&worker](const error_code& ec) {
    worker.dns_refusal_sweep_armed = false;
    if (!ec) sweep_refusals_later(worker);
  });
}

// One refused query: its record, unless an identical one (client address,
// name, type) was written in the last window; then it is only counted.
void log_refusal(Worker& worker, LogRecord record, std::string_view reason) {
  ProxyContext& ctx = worker.context;
  if (ctx.draining) {
    // Nothing may keep the thread busy now: written as it comes.
    ctx.log->write(std::move(record));
    return;
  }
  const std::string client = record.client_ip + ":" + std::to_string(record.client_port), url = record.url;
  const bool written = worker.dns_refusals.refused(std::move(record), Clock::now(), [&ctx](LogRecord r) {
    write_refusal(ctx, std::move(r));
  });
  if (written) spdlog::info("dns client {}: refused {}: {}", client, url, reason);
  sweep_refusals_later(worker);
}

// Answers one query from a client. `reply` runs exactly once, on the
// worker's executor, with the bytes to send (over UDP already fitted to the
// client's payload size); empty when the packet gets no answer at all.
using Reply = std::function<void(std::vector<std::uint8_t>)>;

void answer_query(Worker& worker, std::span<const std::uint8_t> packet, const std::string& client_ip,
                  std::uint16_t client_port, bool over_udp, const asio::any_io_executor& executor, Reply reply) {
  ProxyContext& ctx = worker.context;
  const intercept::DnsQueryParse parsed = intercept::parse_dns_query(packet);
  if (!parsed.ok) {
    spdlog::debug("dns client {}:{}: unanswerable packet: {}", client_ip, client_port,
                  intercept::to_string(parsed.error));
    auto r = intercept::build_dns_error_reply(packet, parsed.error);
    reply(r ? std::move(*r) : std::vector<std::uint8_t>());
    return;
  }
  const DnsQuestion& q = parsed.question;
  const auto& policy = worker.current_policy();
  const intercept::DnsDecision d = intercept::decide_dns_query(
      q, ctx.config.dns_policy, [&policy](std::string_view name) { return policy->allows_name(name); });
  // --policy-mode report: a name the policy would refuse is resolved; the
  // connection that follows is logged with what enforce would have said.
  const bool report = !d.forward && ctx.config.report_only && d.reason == intercept::DnsReason::not_allowed;
  if (report) spdlog::info("report mode: would refuse dns {}: {}", q.name, intercept::to_string(d.reason));
  if (!d.forward && !report) {
    Worker::count(worker.dns_refused);
    LogRecord record = dns_refusal_record(client_ip, client_port, q);
    record.reason = intercept::to_string(d.reason);
    log_refusal(worker, std::move(record), intercept::to_string(d.reason));
    reply(intercept::build_dns_response(q, d.rcode));
    return;
  }
  Worker::count(worker.dns_forwarded);
  const intercept::UpstreamQuery up = intercept::make_upstream_query(packet, q, intercept::random_dns_id());
  auto exchange = std::make_shared<DnsExchange>(
      executor, ctx.dns_upstreams, up, ctx.config.dns_timeout,
      [&ctx, q, over_udp, client_ip, client_port, reply = std::move(reply)](Result<intercept::ForwardedAnswer> r) {
        if (!r) {
          warn_for_query("dns " + dns_type_name(q.qtype) + " " + q.name + ": " + r.message());
          reply(intercept::build_dns_response(q, intercept::DnsRcode::servfail));
          return;
        }
        // The agent will connect to what it was told: the proxy dials the same.
        if (q.is_host_name && (q.qtype == 1 || q.qtype == 28) && ctx.resolver) {
          std::vector<asio::ip::address> addresses;
          std::uint32_t ttl = UINT32_MAX;
          const int family = q.qtype == 1 ? AF_INET : AF_INET6;
          for (const auto& a : r->answer.addresses) {
            if (a.family != family) continue;
            if (family == AF_INET) {
              addresses.emplace_back(asio::ip::address_v4({a.bytes[0], a.bytes[1], a.bytes[2], a.bytes[3]}));
            } else {
              asio::ip::address_v6::bytes_type b;
              std::copy_n(a.bytes.begin(), 16, b.begin());
              addresses.emplace_back(asio::ip::address_v6(b));
            }
            ttl = std::min(ttl, a.ttl);
          }
          if (!addresses.empty()) ctx.resolver->remember(q.name, family, std::move(addresses), std::chrono::seconds(ttl));
        }
        // An ECH config would let the client hide the name it connects to
        // behind an allowed public name: HTTPS/SVCB answers lose it. An
        // answer that cannot be read for that is not passed on.
        intercept::EchStrip stripped = intercept::strip_ech_configs(r->wire);
        if (stripped.status == intercept::EchStrip::Status::error) {
          warn_for_query("dns " + dns_type_name(q.qtype) + " " + q.name +
                         ": upstream answer not relayed: cannot check it for ECH configs: " +
                         intercept::to_string(stripped.error));
          reply(intercept::build_dns_response(q, intercept::DnsRcode::servfail));
          return;
        }
        if (stripped.status == intercept::EchStrip::Status::rewritten) {
          spdlog::debug("dns client {}:{}: {} {}: removed {} ech parameter(s), dropped {} record(s)", client_ip,
                        client_port, dns_type_name(q.qtype), q.name, stripped.params_removed,
                        stripped.records_dropped);
          r->wire = std::move(stripped.wire);
        }
        spdlog::debug("dns client {}:{}: {} {} forwarded: {}", client_ip, client_port, dns_type_name(q.qtype), q.name,
                      intercept::to_string(static_cast<intercept::DnsRcode>(r->answer.rcode)));
        reply(over_udp ? intercept::fit_udp_reply(std::move(r->wire), q) : std::move(r->wire));
      });
  exchange->start();
}

// ---------------------------------------------------------------- UDP

class DnsUdpService : public std::enable_shared_from_this<DnsUdpService> {
 public:
  DnsUdpService(udp::socket& socket, Worker& worker) : socket_(socket), worker_(worker) {}

  void receive() {
    buffer_.resize(intercept::kMaxDnsMessageBytes);
    socket_.async_receive_from(asio::buffer(buffer_), sender_,
                               [self = shared_from_this()](const error_code& ec, std::size_t n) {
                                 self->on_datagram(ec, n);
                               });
  }

 private:
  void on_datagram(const error_code& ec, std::size_t n) {
    if (ec == asio::error::operation_aborted || !socket_.is_open()) return;  // closed: drain
    if (ec) {
      // ICMP errors from earlier replies surface here (ECONNREFUSED): not ours to stop for.
      spdlog::debug("dns-udp receive: {}", ec.message());
      return receive();
    }
    const udp::endpoint client = sender_;
    const std::string ip = peer_address_text(client.address());
    if (in_flight_ >= kMaxInFlightPerSocket) {
      // Upstreams that stopped answering must not let queries pile up:
      // the client retries, as it does after any lost datagram.
      auto now = Clock::now();
      if (now - last_overload_warning_ > std::chrono::seconds(1)) {
        last_overload_warning_ = now;
        spdlog::warn("dns-udp: {} queries waiting for upstreams; dropping new ones", in_flight_);
      }
      return receive();
    }
    ++in_flight_;
    std::span<const std::uint8_t> packet(buffer_.data(), n);
    answer_query(worker_, packet, ip, client.port(), true, socket_.get_executor(),
                 [self = shared_from_this(), client](std::vector<std::uint8_t> bytes) {
                   self->send(client, std::move(bytes));
                 });
    // answer_query copied what it keeps: the buffer is free for the next datagram.
    receive();
  }

  void send(const udp::endpoint& to, std::vector<std::uint8_t> bytes) {
    --in_flight_;
    if (bytes.empty() || !socket_.is_open()) return;
    auto data = std::make_shared<std::vector<std::uint8_t>>(std::move(bytes));
    socket_.async_send_to(asio::buffer(*data), to, [data](const error_code& ec, std::size_t) {
      if (ec && ec != asio::error::operation_aborted) spdlog::debug("dns-udp send: {}", ec.message());
    });
  }

  udp::socket& socket_;
  Worker& worker_;
  std::vector<std::uint8_t> buffer_;
  udp::endpoint sender_;
  std::size_t in_flight_ = 0;
  Clock::time_point last_overload_warning_{};
};

// ---------------------------------------------------------------- TCP

class DnsTcpSession final : public Connection, public std::enable_shared_from_this<DnsTcpSession> {
 public:
  DnsTcpSession(tcp::socket client, const tcp::endpoint& peer, Worker& worker)
      : worker_(worker), client_(std::move(client)), peer_(peer), timer_(client_.get_executor()) {}

  ~DnsTcpSession() override {
    worker_.remove(this);
    worker_.context.dns_tcp_connections.fetch_sub(1, std::memory_order_relaxed);
    worker_.context.connections.fetch_sub(1, std::memory_order_relaxed);
  }

  void start() {
    worker_.add(this);
    ip_ = peer_address_text(peer_.address());
    port_ = peer_.port();
    idle_until_ = Clock::now() + kTcpIdle;
    next();
  }

  void stop(bool force) override {
    asio::post(client_.get_executor(), [self = shared_from_this(), force] {
      self->draining_ = true;
      if (force || !self->busy_) self->close();
    });
  }

 private:
  // Answers the next complete message in the buffer, or reads more.
  void next() {
    if (closed_) return;
    const intercept::DnsTcpFrame frame = intercept::next_tcp_dns_message(in_);
    if (frame.status == intercept::DnsTcpFrame::Status::error) {
      spdlog::debug("dns-tcp client {}:{}: zero-length message", ip_, port_);
      return close();
    }
    if (frame.status == intercept::DnsTcpFrame::Status::done) {
      busy_ = true;
      message_until_.reset();
      std::vector<std::uint8_t> message(frame.message.begin(), frame.message.end());
      in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(frame.consumed));
      arm(Clock::now() + std::chrono::duration_cast<std::chrono::milliseconds>(worker_.context.config.dns_timeout) *
                             static_cast<long>(2 * std::max<std::size_t>(1, worker_.context.dns_upstreams.size())),
          "no answer from the upstreams in time");
      answer_query(worker_, message, ip_, port_, false, client_.get_executor(),
                   [self = shared_from_this()](std::vector<std::uint8_t> bytes) { self->write(std::move(bytes)); });
      return;
    }
    if (draining_) return close();
    // One deadline per query, never pushed back by the bytes themselves: a
    // client trickling a byte every few seconds would otherwise hold its
    // connection, and the slot, for ever.
    if (in_.empty()) {
      arm(idle_until_, "idle");
    } else {
      if (!message_until_) message_until_ = Clock::now() + worker_.context.config.dns_tcp_timeout;
      arm(*message_until_, "query not complete in time (--dns-tcp-timeout)");
    }
    const std::size_t have = in_.size();
    constexpr std::size_t kChunk = 4096;
    in_.resize(have + kChunk);
    client_.async_read_some(asio::buffer(in_.data() + have, kChunk),
                            [self = shared_from_this(), have](const error_code& ec, std::size_t n) {
                              self->in_.resize(have + n);
                              if (ec) return self->close();
                              self->next();
                            });
  }

  void write(std::vector<std::uint8_t> bytes) {
    if (closed_) return;
    if (bytes.empty()) return close();  // not a query: nothing sensible follows on this stream
    auto framed = intercept::frame_tcp_dns_message(bytes);
    if (!framed) return close();
    out_ = std::move(*framed);
    // A client that does not read its answer holds the slot as surely as
    // one that does not send: the same bound.
    arm(Clock::now() + worker_.context.config.dns_tcp_timeout, "answer not taken in time (--dns-tcp-timeout)");
    asio::async_write(client_, asio::buffer(out_), [self = shared_from_this()](const error_code& ec, std::size_t) {
      self->busy_ = false;
      if (ec) return self->close();
      self->idle_until_ = Clock::now() + kTcpIdle;
      self->next();
    });
  }

  // Re-arming for the same instant (another read of the same query) keeps
  // the wait already pending.
  void arm(Clock::time_point deadline, const char* why) {
    if (armed_for_ == deadline) return;
    armed_for_ = deadline;
    timer_.expires_at(deadline);
    timer_.async_wait([self = shared_from_this(), why](const error_code& ec) {
      if (ec || self->closed_) return;
      if (std::string_view(why) == "idle") {
        spdlog::debug("dns-tcp client {}:{}: idle; closing", self->ip_, self->port_);
      } else {
        spdlog::info("dns-tcp client {}:{}: {}; closing", self->ip_, self->port_, why);
      }
      self->close();
    });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    error_code ec;
    client_.shutdown(tcp::socket::shutdown_both, ec);
    client_.close(ec);
  }

  Worker& worker_;
  tcp::socket client_;
  tcp::endpoint peer_;  // the client, as accept(2) reported it
  asio::steady_timer timer_;
  std::string ip_;
  std::uint16_t port_ = 0;
  std::vector<std::uint8_t> in_, out_;
  Clock::time_point idle_until_{}, armed_for_{};
  std::optional<Clock::time_point> message_until_;  // set by the first byte of a query
  bool busy_ = false, draining_ = false, closed_ = false;
};

}  // namespace

void forward_dns_query_async(const asio::any_io_executor& executor, std::vector<udp::endpoint> servers,
                             std::span<const std::uint8_t> client_query, const DnsQuestion& question,
                             std::chrono::milliseconds timeout, DnsForwardDone done) {
  auto up = intercept::make_upstream_query(client_query, question, intercept::random_dns_id());
  auto exchange = std::make_shared<DnsExchange>(executor, std::move(servers), std::move(up), timeout, std::move(done));
  // Never inline: the caller's stack may still hold locks or iterators.
  asio::post(executor, [exchange] { exchange->start(); });
}

void start_dns_udp_service(udp::socket& socket, Worker& worker) {
  std::make_shared<DnsUdpService>(socket, worker)->receive();
}

void start_dns_tcp_session(tcp::socket client, const tcp::endpoint& peer, Worker& worker) {
  worker.context.connections.fetch_add(1, std::memory_order_relaxed);
  worker.context.dns_tcp_connections.fetch_add(1, std::memory_order_relaxed);
  std::make_shared<DnsTcpSession>(std::move(client), peer, worker)->start();
}

void flush_dns_refusals(Worker& worker) {
  worker.dns_refusals.flush([&ctx = worker.context](LogRecord r) { write_refusal(ctx, std::move(r)); });
  worker.dns_refusal_sweep.cancel();
}

}  // namespace awf::proxy
