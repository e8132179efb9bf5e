// Forwarding allowed DNS queries upstream with our own ids and deadlines.
#include "awf/intercept/dns_upstream.h"
#include "awf/errno_text.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "awf/intercept/dns_framing.h"
#include "awf/unique_fd.h"

namespace awf::intercept {

namespace {

using Clock = std::chrono::steady_clock;


void set_id(std::vector<std::uint8_t>& wire, std::uint16_t id) {
  // RFC 1035 §4.1.1: the id is the first two bytes of the header, big-endian.
  wire[0] = static_cast<std::uint8_t>(id >> 8);
  wire[1] = static_cast<std::uint8_t>(id & 0xff);
}

std::uint16_t id_of(std::span<const std::uint8_t> wire) {
  return static_cast<std::uint16_t>((wire[0] << 8) | wire[1]);
}

// Milliseconds left until the deadline, at least 0.
int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// Waits for `events` on fd until the deadline; false on timeout.
Result<bool> wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, remaining_ms(deadline));
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) {
      const int err = errno;
      return Error{"poll: " + errno_text(err)};
    }
  }
}

Result<UniqueFd> connected_socket(const SocketAddress& server, int type, Clock::time_point deadline) {
  const std::string where = std::string(type == SOCK_DGRAM ? "udp" : "tcp") + " DNS upstream " + server.to_string();
  UniqueFd fd(::socket(server.family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    const int err = errno;
    return Error{where + ": socket: " + errno_text(err)};
  }
  sockaddr_storage ss{};
  const socklen_t len = server.to_sockaddr(ss);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS) {
      const int err = errno;
      return Error{where + ": connect: " + errno_text(err)};
    }
    auto ready = wait_for(fd.get(), POLLOUT, deadline);
    if (!ready) return Error{where + ": " + ready.message()};
    if (!*ready) return Error{where + ": connect timed out"};
    int soerr = 0;
    socklen_t soerr_len = sizeof soerr;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &soerr, &soerr_len);
    if (soerr != 0) return Error{where + ": connect: " + errno_text(soerr)};
  }
  return fd;
}

}  // namespace

std::uint16_t random_dns_id() {
  std::uint16_t id = 0;
  // getrandom(2) with a 2-byte buffer never returns short once the pool is
  // initialised; EINTR is retried.
  while (::getrandom(&id, sizeof id, 0) != static_cast<ssize_t>(sizeof id)) {
  }
  return id;
}

UpstreamQuery make_upstream_query(std::span<const std::uint8_t> client_query, const DnsQuestion& question,
                                  std::uint16_t upstream_id) {
  UpstreamQuery q;
  q.wire.assign(client_query.begin(), client_query.end());
  q.client_id = question.id;
  q.question = question;
  q.question.id = upstream_id;
  if (q.wire.size() >= kDnsHeaderBytes) set_id(q.wire, upstream_id);
  return q;
}

std::vector<std::uint8_t> answer_for_client(std::span<const std::uint8_t> upstream_answer, const UpstreamQuery& query) {
  std::vector<std::uint8_t> wire(upstream_answer.begin(), upstream_answer.end());
  if (wire.size() >= kDnsHeaderBytes) set_id(wire, query.client_id);
  return wire;
}

Result<std::vector<std::uint8_t>> exchange_udp(const SocketAddress& server, std::span<const std::uint8_t> query,
                                               std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const std::string where = "udp DNS upstream " + server.to_string();
  if (query.size() < kDnsHeaderBytes) return Error{where + ": query shorter than a DNS header"};
  auto fd = connected_socket(server, SOCK_DGRAM, deadline);
  if (!fd) return fd.error();
  if (::send(fd->get(), query.data(), query.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(query.size())) {
    const int err = errno;
    return Error{where + ": send: " + errno_text(err)};
  }
  std::vector<std::uint8_t> buffer(kMaxDnsMessageBytes);
  for (;;) {
    auto ready = wait_for(fd->get(), POLLIN, deadline);
    if (!ready) return Error{where + ": " + ready.message()};
    if (!*ready) return Error{where + ": no answer within " + std::to_string(timeout.count()) + " ms"};
    const ssize_t n = ::recv(fd->get(), buffer.data(), buffer.size(), 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      const int err = errno;
      // ECONNREFUSED: an ICMP port unreachable came back for our datagram.
      return Error{where + ": recv: " + errno_text(err)};
    }
    // Datagrams with another id are stale or forged: keep waiting for ours.
    if (static_cast<std::size_t>(n) < kDnsHeaderBytes || id_of(std::span(buffer.data(), 2)) != id_of(query)) continue;
    buffer.resize(static_cast<std::size_t>(n));
    return buffer;
  }
}

Result<std::vector<std::uint8_t>> exchange_tcp(const SocketAddress& server, std::span<const std::uint8_t> query,
                                               std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const std::string where = "tcp DNS upstream " + server.to_string();
  auto framed = frame_tcp_dns_message(query);
  if (!framed) return Error{where + ": " + framed.message()};
  auto fd = connected_socket(server, SOCK_STREAM, deadline);
  if (!fd) return fd.error();
  std::size_t sent = 0;
  while (sent < framed->size()) {
    const ssize_t n = ::send(fd->get(), framed->data() + sent, framed->size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      const int err = errno;
      return Error{where + ": send: " + errno_text(err)};
    }
    auto ready = wait_for(fd->get(), POLLOUT, deadline);
    if (!ready) return Error{where + ": " + ready.message()};
    if (!*ready) return Error{where + ": send timed out"};
  }
  std::vector<std::uint8_t> buffer;
  for (;;) {
    const DnsTcpFrame frame = next_tcp_dns_message(buffer);
    if (frame.status == DnsTcpFrame::Status::error) return Error{where + ": zero-length DNS message"};
    if (frame.status == DnsTcpFrame::Status::done) {
      return std::vector<std::uint8_t>(frame.message.begin(), frame.message.end());
    }
    auto ready = wait_for(fd->get(), POLLIN, deadline);
    if (!ready) return Error{where + ": " + ready.message()};
    if (!*ready) return Error{where + ": no answer within " + std::to_string(timeout.count()) + " ms"};
    std::uint8_t chunk[4096];
    const ssize_t n = ::recv(fd->get(), chunk, sizeof chunk, 0);
    if (n == 0) return Error{where + ": connection closed before a whole answer"};
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      const int err = errno;
      return Error{where + ": recv: " + errno_text(err)};
    }
    buffer.insert(buffer.end(), chunk, chunk + n);
  }
}

Result<ForwardedAnswer> forward_dns_query(const SocketAddress& server, std::span<const std::uint8_t> client_query,
                                          const DnsQuestion& question, std::chrono::milliseconds timeout) {
  const UpstreamQuery upstream = make_upstream_query(client_query, question, random_dns_id());
  auto reply = exchange_udp(server, upstream.wire, timeout);
  if (!reply) return reply.error();
  auto answer = parse_dns_response(*reply, upstream.question);
  if (!answer) return Error{"udp DNS upstream " + server.to_string() + ": " + answer.message()};
  if (answer->truncated) {
    reply = exchange_tcp(server, upstream.wire, timeout);
    if (!reply) return reply.error();
    answer = parse_dns_response(*reply, upstream.question);
    if (!answer) return Error{"tcp DNS upstream " + server.to_string() + ": " + answer.message()};
  }
  return ForwardedAnswer{answer_for_client(*reply, upstream), std::move(answer.value())};
}

}  // namespace awf::intercept
