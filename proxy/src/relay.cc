// Two-way byte relay: splice(2) socket -> pipe -> socket when possible, a
// plain buffer copy otherwise; FIN is passed on per direction (half-close).
#include "awf/proxy/relay.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <atomic>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

namespace awf::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {
constexpr std::size_t kChunk = 64 * 1024;
// A pipe that one splice half filled or more is grown to this
// (F_SETPIPE_SZ): bulk transfers then move up to 1 MiB per splice pair (bulk
// 100 MiB: about half the proxy CPU of 64 KiB pipes). Only directions that move bulk
// grow their pipe, and the pool keeps few grown pipes, so the per-user pipe
// page accounting (pipe-user-pages-soft) is not used up by idle pipes. Where
// the kernel refuses, the pipe keeps its size.
constexpr int kPipeSize = 1024 * 1024;
constexpr int kRoundsPerTurn = 8;  // yield to other connections of this thread

// Empty pipes kept per thread: a short tunnel borrows one per burst instead
// of pipe2() + two close() each time, and an idle tunnel still holds none.
class PipePool {
 public:
  ~PipePool() {
    for (auto& p : free_) {
      ::close(p.r);
      ::close(p.w);
    }
  }
  bool take(int& r, int& w, std::size_t& capacity) {
    if (!free_.empty()) {
      r = free_.back().r;
      w = free_.back().w;
      capacity = free_.back().capacity;
      free_.pop_back();
      return true;
    }
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return false;
    r = fds[0];
    w = fds[1];
    capacity = kChunk;
    return true;
  }
  // Only empty pipes come back; beyond the caps they are closed.
  void give(int r, int w, std::size_t capacity) {
    if (free_.size() < kMaxFree && (capacity <= kChunk || big_free() < kMaxBigFree)) {
      free_.push_back({r, w, capacity});
      return;
    }
    ::close(r);
    ::close(w);
  }

 private:
  struct Pipe {
    int r, w;
    std::size_t capacity;
  };
  static constexpr std::size_t kMaxFree = 16;    // 32 fds per thread at most
  static constexpr std::size_t kMaxBigFree = 4;  // grown pipes among them
  std::size_t big_free() const {
    std::size_t n = 0;
    for (const Pipe& p : free_) n += p.capacity > kChunk ? 1 : 0;
    return n;
  }
  std::vector<Pipe> free_;
};

PipePool& pipe_pool() {
  thread_local PipePool pool;
  return pool;
}
}  // namespace

struct Relay::Direction {
  tcp::socket* from = nullptr;
  tcp::socket* to = nullptr;
  std::uint64_t* total = nullptr;
  int pipe_r = -1, pipe_w = -1;
  std::size_t in_pipe = 0;
  std::size_t pipe_capacity = kChunk;
  std::string pending;  // bytes to write first, and the copy-mode buffer
  bool eof = false;
  bool done = false;
  bool splice = true;
  bool grow_tried = false;  // F_SETPIPE_SZ asked once per direction
  // Pipes are held only while bytes flow: an idle tunnel holds two sockets
  // and nothing else, so ten thousand idle tunnels fit in the fd limit.
  bool open_pipe() { return pipe_pool().take(pipe_r, pipe_w, pipe_capacity); }
  // Back to the thread's pool when empty; a pipe with bytes still in it
  // (tunnel aborted mid-transfer) is closed.
  void release_pipe() {
    if (pipe_r < 0) return;
    if (in_pipe == 0) {
      pipe_pool().give(pipe_r, pipe_w, pipe_capacity);
    } else {
      ::close(pipe_r);
      ::close(pipe_w);
    }
    pipe_r = pipe_w = -1;
  }
  ~Direction() {
    // Not pooled here: a relay may be destroyed off its thread or after the
    // thread's pool is gone.
    if (pipe_r >= 0) ::close(pipe_r);
    if (pipe_w >= 0) ::close(pipe_w);
  }
};

namespace {
// One increment and one decrement per tunnel, never per byte.
std::atomic<std::uint64_t> relays_alive{0};
}  // namespace

std::uint64_t Relay::active() { return relays_alive.load(std::memory_order_relaxed); }

Relay::Relay(tcp::socket client, tcp::socket upstream, Options options, Done done)
    : client_(std::move(client)),
      upstream_(std::move(upstream)),
      timer_(client_.get_executor()),
      options_(options),
      done_(std::move(done)),
      up_(std::make_unique<Direction>()),
      down_(std::make_unique<Direction>()) {
  relays_alive.fetch_add(1, std::memory_order_relaxed);
}

Relay::~Relay() { relays_alive.fetch_sub(1, std::memory_order_relaxed); }

std::shared_ptr<Relay> Relay::start(tcp::socket client, tcp::socket upstream, std::string to_upstream,
                                    std::string to_client, Options options, Done done) {
  std::shared_ptr<Relay> r(new Relay(std::move(client), std::move(upstream), options, std::move(done)));
  r->begin(std::move(to_upstream), std::move(to_client));
  return r;
}

void Relay::begin(std::string to_upstream, std::string to_client) {
  up_->from = &client_;
  up_->to = &upstream_;
  up_->total = &totals_.client_to_upstream;
  // An empty string handed over may still own the session's read buffer
  // (64 KiB): take only strings with bytes, so an idle tunnel keeps none.
  if (!to_upstream.empty()) up_->pending = std::move(to_upstream);
  down_->from = &upstream_;
  down_->to = &client_;
  down_->total = &totals_.upstream_to_client;
  if (!to_client.empty()) down_->pending = std::move(to_client);
  // TCP_NODELAY: the client socket inherited it from the listener, the
  // upstream one got it when it connected.
  boost::system::error_code ec;
  // Both modes wait for readiness and then read or splice with raw calls,
  // which need O_NONBLOCK on the descriptor. Sockets that already ran an
  // async operation have it (Asio's internal non-blocking mode): no ioctl.
  if (!client_.native_non_blocking()) client_.native_non_blocking(true, ec);
  if (!ec && !upstream_.native_non_blocking()) upstream_.native_non_blocking(true, ec);
  if (ec) return abort("non-blocking mode: " + ec.message());
  up_->splice = down_->splice = options_.use_splice;
  last_activity_ = Clock::now();
  arm_timer();
  pump(*up_);
  pump(*down_);
}

void Relay::arm_timer() {
  auto deadline = std::min(last_activity_ + options_.idle_timeout, options_.lifetime_end);
  timer_.expires_at(deadline);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) { self->on_timer(ec); });
}

void Relay::on_timer(const boost::system::error_code& ec) {
  if (ec || closed_) return;
  auto now = Clock::now();
  if (now >= options_.lifetime_end) return abort("lifetime");
  if (now >= last_activity_ + options_.idle_timeout) return abort("idle timeout");
  arm_timer();
}

void Relay::pump(Direction& d) {
  if (closed_ || d.done) return;
  auto self = shared_from_this();
  if (!d.pending.empty()) {
    // Bytes read before the relay started (or the copy buffer): write them out.
    asio::async_write(*d.to, asio::buffer(d.pending), [self, &d](const boost::system::error_code& ec, std::size_t n) {
      if (self->closed_) return;
      if (ec) return self->abort("write: " + ec.message());
      *d.total += n;
      self->last_activity_ = Clock::now();
      std::string().swap(d.pending);  // an idle direction keeps no buffer
      self->pump(d);
    });
    return;
  }
  if (!d.splice) return pump_copy(d);
  const int in = d.from->native_handle();
  const int out = d.to->native_handle();
  for (int round = 0; round < kRoundsPerTurn; ++round) {
    if (d.in_pipe > 0) {
      ssize_t n = ::splice(d.pipe_r, nullptr, out, nullptr, d.in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        d.in_pipe -= static_cast<std::size_t>(n);
        *d.total += static_cast<std::uint64_t>(n);
        last_activity_ = Clock::now();
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        d.to->async_wait(tcp::socket::wait_write, [self, &d](const boost::system::error_code& ec) {
          if (self->closed_) return;
          if (ec) return self->abort("wait: " + ec.message());
          self->pump(d);
        });
        return;
      }
      return abort(std::string("send: ") + std::strerror(n < 0 ? errno : EPIPE));
    }
    if (d.eof) return finish_direction(d);
    if (d.pipe_r < 0 && !d.open_pipe()) {
      d.splice = false;  // fd pressure: copy this direction instead, still correct
      return pump_copy(d);
    }
    ssize_t n = ::splice(in, nullptr, d.pipe_w, nullptr, d.pipe_capacity, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      d.in_pipe = static_cast<std::size_t>(n);
      last_activity_ = Clock::now();
      if (d.in_pipe >= kChunk / 2 && d.pipe_capacity < static_cast<std::size_t>(kPipeSize) && !d.grow_tried) {
        d.grow_tried = true;  // a large read (a full pipe holds 16 slots of any size): bulk
        int size = ::fcntl(d.pipe_w, F_SETPIPE_SZ, kPipeSize);
        if (size > static_cast<int>(d.pipe_capacity)) d.pipe_capacity = static_cast<std::size_t>(size);
      }
      continue;
    }
    if (n == 0) {
      d.eof = true;
      d.release_pipe();
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      d.release_pipe();  // empty here: back to the pool while the source is quiet
      return wait_readable(d);
    }
    return abort(std::string("receive: ") + std::strerror(errno));
  }
  asio::post(client_.get_executor(), [self, &d] { self->pump(d); });
}

void Relay::wait_readable(Direction& d) {
  d.from->async_wait(tcp::socket::wait_read, [self = shared_from_this(), &d](const boost::system::error_code& ec) {
    if (self->closed_) return;
    if (ec) return self->abort("wait: " + ec.message());
    self->pump(d);
  });
}

void Relay::pump_copy(Direction& d) {
  if (d.eof) return finish_direction(d);
  // The buffer exists only between readiness and the end of its write.
  d.pending.resize(kChunk);
  // Raw recv: the socket is non-blocking at the descriptor level (begin()).
  ssize_t n = ::recv(d.from->native_handle(), d.pending.data(), d.pending.size(), MSG_DONTWAIT);
  if (n < 0 && errno == EINTR) return pump_copy(d);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    std::string().swap(d.pending);
    return wait_readable(d);
  }
  if (n == 0) {
    std::string().swap(d.pending);
    d.eof = true;
    return finish_direction(d);
  }
  if (n < 0) return abort(std::string("receive: ") + std::strerror(errno));
  d.pending.resize(static_cast<std::size_t>(n));
  last_activity_ = Clock::now();
  pump(d);
}

void Relay::finish_direction(Direction& d) {
  // FIN read on one side: pass it on and keep the other direction open.
  boost::system::error_code ec;
  d.to->shutdown(tcp::socket::shutdown_send, ec);
  d.done = true;
  maybe_done();
}

void Relay::abort(const std::string& why) {
  if (closed_) return;
  totals_.end = why;
  closed_ = true;
  boost::system::error_code ec;
  client_.close(ec);
  upstream_.close(ec);
  timer_.cancel();
  maybe_done();
}

void Relay::close(const char* why) { abort(why); }

void Relay::maybe_done() {
  if (!closed_ && up_->done && down_->done) {
    closed_ = true;
    totals_.end = "closed";
    boost::system::error_code ec;
    client_.close(ec);
    upstream_.close(ec);
    timer_.cancel();
  }
  if (closed_ && !reported_) {
    reported_ = true;
    // Run the callback outside any pending handler of ours.
    asio::post(timer_.get_executor(), [self = shared_from_this()] {
      if (self->done_) {
        auto done = std::move(self->done_);
        done(self->totals_);
      }
    });
  }
}

}  // namespace awf::proxy
