// The test DNS server: one UDP socket, one thread, poll with a stop pipe.
#include "awf/testing/dns_stub.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fcntl.h>

#include <atomic>
#include <cstring>
#include <thread>

namespace awf::testing {

struct DnsStub::Impl {
  int fd = -1;
  int stop_pipe[2] = {-1, -1};
  std::uint16_t port = 0;
  std::map<std::string, std::vector<std::string>> records;
  std::atomic<std::size_t> queries{0};
  std::thread thread;

  ~Impl() {
    if (stop_pipe[1] >= 0) {
      char c = 1;
      [[maybe_unused]] auto n = ::write(stop_pipe[1], &c, 1);
    }
    if (thread.joinable()) thread.join();
    for (int f : {fd, stop_pipe[0], stop_pipe[1]}) {
      if (f >= 0) ::close(f);
    }
  }

  // Builds the answer for one query packet; empty when it is not a query.
  std::string answer(const unsigned char* q, std::size_t n) {
    if (n < 12) return {};
    std::size_t pos = 12;
    std::string name;
    while (pos < n && q[pos] != 0) {
      std::size_t len = q[pos];
      if (len > 63 || pos + 1 + len > n) return {};
      if (!name.empty()) name += '.';
      for (std::size_t i = 0; i < len; ++i) name += static_cast<char>(std::tolower(q[pos + 1 + i]));
      pos += 1 + len;
    }
    if (pos + 5 > n) return {};
    std::size_t question_end = pos + 5;
    std::uint16_t qtype = static_cast<std::uint16_t>((q[pos + 1] << 8) | q[pos + 2]);
    std::vector<std::string> addrs;
    bool known = false;
    if (auto it = records.find(name); it != records.end()) {
      known = true;
      for (const auto& a : it->second) {
        bool v6 = a.find(':') != std::string::npos;
        if ((qtype == 1 && !v6) || (qtype == 28 && v6)) addrs.push_back(a);
      }
    }
    std::string out(reinterpret_cast<const char*>(q), question_end);
    out[2] = static_cast<char>(0x84 | (q[2] & 0x01));  // QR, AA, keep RD
    out[3] = static_cast<char>(known ? 0x00 : 0x03);   // NOERROR / NXDOMAIN
    out[4] = 0;
    out[5] = 1;  // one question
    out[6] = 0;
    out[7] = static_cast<char>(addrs.size());
    out[8] = out[9] = out[10] = out[11] = 0;
    for (const auto& a : addrs) {
      bool v6 = a.find(':') != std::string::npos;
      unsigned char bytes[16];
      ::inet_pton(v6 ? AF_INET6 : AF_INET, a.c_str(), bytes);
      const unsigned char rr[] = {0xc0, 0x0c, 0, static_cast<unsigned char>(v6 ? 28 : 1), 0, 1, 0, 0, 0, 5, 0,
                                  static_cast<unsigned char>(v6 ? 16 : 4)};
      out.append(reinterpret_cast<const char*>(rr), sizeof rr);
      out.append(reinterpret_cast<const char*>(bytes), v6 ? 16 : 4);
    }
    return out;
  }

  void run() {
    unsigned char buf[1500];
    for (;;) {
      pollfd p[2] = {{fd, POLLIN, 0}, {stop_pipe[0], POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) continue;
      if (p[1].revents) return;
      sockaddr_storage from{};
      socklen_t len = sizeof from;
      ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n <= 0) continue;
      ++queries;
      std::string reply = answer(buf, static_cast<std::size_t>(n));
      if (!reply.empty()) ::sendto(fd, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  }
};

DnsStub::DnsStub(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DnsStub::~DnsStub() = default;

std::unique_ptr<DnsStub> DnsStub::start(const std::string& host,
                                        std::map<std::string, std::vector<std::string>> records,
                                        std::uint16_t port) {
  auto impl = std::make_unique<Impl>();
  impl->records = std::move(records);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) return nullptr;
  impl->fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (impl->fd < 0 || ::bind(impl->fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return nullptr;
  socklen_t len = sizeof a;
  ::getsockname(impl->fd, reinterpret_cast<sockaddr*>(&a), &len);
  impl->port = ntohs(a.sin_port);
  if (::pipe2(impl->stop_pipe, O_CLOEXEC) != 0) return nullptr;
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->run(); });
  return std::unique_ptr<DnsStub>(new DnsStub(std::move(impl)));
}

std::uint16_t DnsStub::port() const { return impl_->port; }
std::size_t DnsStub::queries() const { return impl_->queries; }

}  // namespace awf::testing
