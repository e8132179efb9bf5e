// The CONNECT exchange with a parent proxy; see parent_proxy.h.
#include "awf/proxy/parent_proxy.h"

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "awf/host_port.h"
#include "awf/proxy/http_head.h"
#include "awf/upstream_proxy.h"

namespace awf::proxy {
namespace {

namespace asio = boost::asio;
using error_code = boost::system::error_code;

// A parent's answer to CONNECT is a short head; anything longer is refused.
constexpr std::size_t kMaxAnswerHead = 16 * 1024;

struct Exchange : std::enable_shared_from_this<Exchange> {
  asio::ip::tcp::socket& socket;
  std::string parent;  // "ip:port" for messages
  std::string request;
  std::string in;
  HeadCursor cursor;
  std::shared_ptr<void> keep_alive;
  std::function<void(ParentConnectResult)> done;

  Exchange(asio::ip::tcp::socket& s, std::shared_ptr<void> k, std::function<void(ParentConnectResult)> d)
      : socket(s), keep_alive(std::move(k)), done(std::move(d)) {}

  void fail(std::string why) { done({.ok = false, .leftover = {}, .error = "upstream proxy " + parent + ": " + why}); }

  void read() {
    const std::size_t have = in.size();
    in.resize(have + 4096);
    socket.async_read_some(asio::buffer(in.data() + have, 4096),
                           [self = shared_from_this(), have](const error_code& ec, std::size_t n) {
                             self->in.resize(have + n);
                             if (ec) return self->fail("closed before answering CONNECT (" + ec.message() + ")");
                             self->parse();
                           });
  }

  void parse() {
    ResponseHead head;
    const ParseResult r = parse_response_head(in, kMaxAnswerHead, head, cursor);
    if (r.status == ParseStatus::need_more) return read();
    if (r.status == ParseStatus::error) return fail(std::string("unreadable answer to CONNECT: ") + to_string(r.error));
    if (head.status < 200 || head.status > 299) {
      return fail("refused CONNECT with " + std::to_string(head.status) + " " + head.reason);
    }
    done({.ok = true, .leftover = in.substr(head.head_size), .error = {}});
  }
};

}  // namespace

bool via_parent(const Config& config, std::string_view host) {
  return config.upstream_proxy.has_value() && !bypasses(config.upstream_bypass, host);
}

void connect_through_parent(asio::ip::tcp::socket& socket, const std::string& host, std::uint16_t port,
                            std::shared_ptr<void> keep_alive, std::function<void(ParentConnectResult)> done) {
  auto x = std::make_shared<Exchange>(socket, std::move(keep_alive), std::move(done));
  error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  x->parent = ec ? std::string("(gone)") : join_host_port(peer.address().to_string(), peer.port());
  // `host` is canonical; an IPv6 literal keeps its brackets from the client's authority.
  const std::string authority =
      host.find(':') != std::string::npos && host.front() != '[' ? join_host_port(host, port)
                                                                  : host + ":" + std::to_string(port);
  x->request = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n";
  asio::async_write(socket, asio::buffer(x->request), [x](const error_code& e, std::size_t) {
    if (e) return x->fail("write failed (" + e.message() + ")");
    x->read();
  });
}

}  // namespace awf::proxy
