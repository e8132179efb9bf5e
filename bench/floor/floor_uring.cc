// awf-floor-uring: awf-floor (floor_relay.cc) again, with io_uring in place of
// epoll, to see how much of the floor is the readiness model and the system
// calls around it rather than the kernel's TCP work.
//
// Same command line, same behaviour: the first request head is read, a
// CONNECT whose target contains --deny gets a canned 403, any other CONNECT is
// joined to --upstream IP at its port, any other request goes verbatim to
// --upstream IP:80, and from then on the connection is a byte pipe.
//
// How it uses io_uring, per thread (one ring each, --threads N, a listener each
// on the same port through SO_REUSEPORT):
// - one multishot accept on the listener;
// - one multishot recv per socket once the first head is read (that one is
//   read by single recvs), taking buffers from a ring of provided buffers
//   (--buffers N of --buffer-size, 64 KiB); a buffer goes back to the ring
//   when its bytes have been sent on;
// - every operation a turn of the loop prepares leaves in one io_uring_enter,
//   which also waits for the next completions (io_uring_submit_and_wait);
// - a tunnel direction that has carried --splice-after bytes stops its recv
//   and moves the rest with IORING_OP_SPLICE through a pipe (bulk);
//   --send-zc-min BYTES sends chunks at least that big with IORING_OP_SEND_ZC.
//
// Bounded: at most kQueueLimit bytes wait per direction (the recv is cancelled
// above it and armed again below half of it); a head is at most kHeadLimit.
// When the buffer ring runs dry the kernel ends a multishot recv with ENOBUFS;
// it is armed again once a buffer comes back. Short sends are resent from where
// they stopped; an end of stream is passed on with shutdown(SHUT_WR) once what
// was queued before it has left; an error closes both sockets.
//
// Where io_uring cannot be set up (kernel.io_uring_disabled, a seccomp filter,
// an old kernel) it says so and exits 3 before printing "listening on".
#include <arpa/inet.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <future>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "floor_common.h"

using namespace awf::floor;  // the answers and parsers both floors share

namespace {

constexpr std::size_t kQueueLimit = 512 * 1024;
constexpr unsigned kPipeBytes = 1 << 20;
constexpr unsigned kRingEntries = 1024;
constexpr unsigned kCompletionEntries = 16384;
constexpr int kBufferGroup = 0;
constexpr int kUnavailable = 3;  // exit status: io_uring cannot be used here

struct Options {
  sockaddr_in listen{};
  in_addr upstream{};
  std::string deny;
  int threads = 1;
  unsigned buffers = 512;
  unsigned buffer_size = 64 * 1024;
  // A direction that has carried this much and still fills whole buffers is
  // a bulk stream: splice beats copying it through user space several times
  // over here (bench/README.md). 0: never splice.
  std::uint64_t splice_after = 1 << 20;
  std::uint32_t send_zc_min = 0;   // 0: never send_zc
};
Options opts;


// What a completion is for: the low 4 bits of its user_data (a Connection is
// 16-byte aligned). Per-direction kinds add the direction (0 or 1).
enum Tag : std::uint64_t {
  kIgnore = 0,  // cancel and close, posted only when they fail
  kAccept = 1,
  kConnect = 2,
  kRecv = 4,        // +d
  kSend = 6,        // +d
  kSpliceIn = 8,    // +d
  kSpliceOut = 10,  // +d
  kAcceptRetry = 12,  // a pause after a failed accept
};

// Bytes waiting to be sent one way: a provided buffer (bid >= 0) or text the
// connection owns or that is static (bid < 0).
struct Chunk {
  const char* data;
  std::uint32_t len;
  int bid;
};

// One direction of the relay: d = 0 client to upstream, d = 1 back.
struct Direction {
  std::deque<Chunk> queue;
  std::size_t queued = 0;
  std::uint64_t moved = 0;
  bool recv_armed = false, cancel_sent = false, starved = false;
  bool sending = false;
  bool eof = false, shut = false;
  int zc_pending = 0;          // send_zc notifications not yet seen
  std::vector<int> zc_buffers;  // sent with send_zc, given back once zc_pending is 0
  // Splice mode (bulk): a pipe between the two sockets.
  bool splicing = false, splice_wanted = false;
  int pipe_read = -1, pipe_write = -1;
  std::size_t in_pipe = 0;
  bool splice_in_flight = false, splice_out_flight = false;
};

enum class State { head, connecting, relaying, denied };

struct alignas(16) Connection {
  int fd[2] = {-1, -1};  // client, upstream
  Direction dir[2];
  State state = State::head;
  std::string head;  // the first head; later what is forwarded of it
  sockaddr_in upstream{};
  int refs = 0;      // operations in flight that name this connection
  bool closing = false;
};

std::uint64_t tag(Connection* c, std::uint64_t kind) { return reinterpret_cast<std::uint64_t>(c) | kind; }

class Worker {
 public:
  explicit Worker(int listener) : listener_(listener) {}

  // Sets up the ring and the buffer ring; an empty string when it worked,
  // else what failed and why.
  std::string set_up();
  [[noreturn]] void run();

 private:
  io_uring_sqe* sqe();
  void arm_accept();
  void arm_recv(Connection* c, int d);
  void cancel(Connection* c, std::uint64_t kind);
  void give_buffer(int bid);
  char* buffer(int bid) { return buffers_ + static_cast<std::size_t>(bid) * opts.buffer_size; }

  void on_accept(const io_uring_cqe* cqe);
  void on_recv(Connection* c, int d, const io_uring_cqe* cqe);
  void on_send(Connection* c, int d, const io_uring_cqe* cqe);
  void on_connect(Connection* c, int res);
  void on_splice_in(Connection* c, int d, int res);
  void on_splice_out(Connection* c, int d, int res);
  void on_head(Connection* c);
  void start_connect(Connection* c, std::uint16_t port);
  void maybe_arm(Connection* c, int d);
  void pump(Connection* c, int d);
  void pump_splice(Connection* c, int d);
  void finish(Connection* c);
  void release(Connection* c);

  int listener_;
  io_uring ring_{};
  io_uring_buf_ring* buf_ring_ = nullptr;
  char* buffers_ = nullptr;
  int buf_mask_ = 0;
  unsigned buffers_out_ = 0;  // taken by the kernel, not yet given back
  std::vector<std::pair<Connection*, int>> starved_;
  __kernel_timespec retry_after_{};
};

std::string errno_text(const char* what, int err) { return std::string(what) + ": " + std::strerror(err); }

std::string Worker::set_up() {
  io_uring_params p{};
  p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  p.cq_entries = kCompletionEntries;
  int rc = io_uring_queue_init_params(kRingEntries, &ring_, &p);
  if (rc == -EINVAL) {  // before Linux 6.1: no deferred task work
    p = io_uring_params{};
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN;
    p.cq_entries = kCompletionEntries;
    rc = io_uring_queue_init_params(kRingEntries, &ring_, &p);
  }
  if (rc < 0) {
    std::string hint = rc == -EPERM || rc == -ENOSYS
                           ? " (kernel.io_uring_disabled is set, or a seccomp filter forbids io_uring_setup)"
                           : "";
    return errno_text("io_uring_setup", -rc) + hint;
  }
  std::size_t ring_bytes = sizeof(io_uring_buf) * opts.buffers;
  void* mem = ::mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return errno_text("mmap of the buffer ring", errno);
  buf_ring_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(mem);
  reg.ring_entries = opts.buffers;
  reg.bgid = kBufferGroup;
  rc = io_uring_register_buf_ring(&ring_, &reg, 0);
  if (rc < 0) return errno_text("io_uring_register_buf_ring (provided buffer rings need Linux 5.19)", -rc);
  void* data = ::mmap(nullptr, std::size_t{opts.buffers} * opts.buffer_size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (data == MAP_FAILED) return errno_text("mmap of the buffers", errno);
  buffers_ = static_cast<char*>(data);
  io_uring_buf_ring_init(buf_ring_);
  buf_mask_ = io_uring_buf_ring_mask(opts.buffers);
  for (unsigned i = 0; i < opts.buffers; ++i)
    io_uring_buf_ring_add(buf_ring_, buffer(static_cast<int>(i)), opts.buffer_size, static_cast<unsigned short>(i),
                          buf_mask_, static_cast<int>(i));
  io_uring_buf_ring_advance(buf_ring_, static_cast<int>(opts.buffers));
  io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
  if (!probe) return "io_uring_register(PROBE) failed";
  const std::pair<int, const char*> needed[] = {{IORING_OP_ACCEPT, "accept"}, {IORING_OP_RECV, "recv"},
                                                {IORING_OP_SEND, "send"},     {IORING_OP_CONNECT, "connect"},
                                                {IORING_OP_CLOSE, "close"},   {IORING_OP_SPLICE, "splice"},
                                                {IORING_OP_SEND_ZC, "send_zc"}};
  std::string missing;
  for (auto [op, name] : needed)
    if (!io_uring_opcode_supported(probe, op)) missing += std::string(missing.empty() ? "" : ", ") + name;
  io_uring_free_probe(probe);
  if (!missing.empty()) return "this kernel's io_uring lacks " + missing;
  arm_accept();
  return {};
}

io_uring_sqe* Worker::sqe() {
  io_uring_sqe* s = io_uring_get_sqe(&ring_);
  while (!s) {  // the submission queue is full: hand it over now
    io_uring_submit(&ring_);
    s = io_uring_get_sqe(&ring_);
  }
  return s;
}

void Worker::arm_accept() {
  io_uring_sqe* s = sqe();
  io_uring_prep_multishot_accept(s, listener_, nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(s, kAccept);
}

void Worker::arm_recv(Connection* c, int d) {
  io_uring_sqe* s = sqe();
  // The first head is read one buffer at a time: a denied client is then
  // answered and closed with no recv left to cancel.
  if (c->state == State::head) io_uring_prep_recv(s, c->fd[d], nullptr, 0, 0);
  else io_uring_prep_recv_multishot(s, c->fd[d], nullptr, 0, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = kBufferGroup;
  io_uring_sqe_set_data64(s, tag(c, kRecv + static_cast<unsigned>(d)));
  c->dir[d].recv_armed = true;
  c->dir[d].cancel_sent = false;
  ++c->refs;
}

void Worker::cancel(Connection* c, std::uint64_t kind) {
  io_uring_sqe* s = sqe();
  io_uring_prep_cancel64(s, tag(c, kind), 0);
  s->flags |= IOSQE_CQE_SKIP_SUCCESS;
  io_uring_sqe_set_data64(s, kIgnore);
}

void Worker::give_buffer(int bid) {
  io_uring_buf_ring_add(buf_ring_, buffer(bid), opts.buffer_size, static_cast<unsigned short>(bid), buf_mask_, 0);
  io_uring_buf_ring_advance(buf_ring_, 1);
  --buffers_out_;
}

void Worker::on_accept(const io_uring_cqe* cqe) {
  if (cqe->res < 0) {
    if (cqe->res == -EINVAL) {
      std::fprintf(stderr, "awf-floor-uring: multishot accept: %s (needs Linux 5.19)\n", std::strerror(EINVAL));
      std::exit(kUnavailable);
    }
    // EMFILE and the like: say so, pause 100 ms, accept again.
    std::fprintf(stderr, "awf-floor-uring: accept: %s\n", std::strerror(-cqe->res));
    if (!(cqe->flags & IORING_CQE_F_MORE)) {
      retry_after_ = __kernel_timespec{.tv_sec = 0, .tv_nsec = 100'000'000};
      io_uring_sqe* s = sqe();
      io_uring_prep_timeout(s, &retry_after_, 0, 0);
      io_uring_sqe_set_data64(s, kAcceptRetry);
    }
    return;
  }
  if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept();
  auto* c = new Connection;
  c->fd[0] = cqe->res;  // TCP_NODELAY is inherited from the listener
  arm_recv(c, 0);
}

void Worker::maybe_arm(Connection* c, int d) {
  Direction& dir = c->dir[d];
  if (c->closing || dir.recv_armed || dir.eof || dir.starved || dir.splicing) return;
  if (d == 1 && c->state != State::relaying) return;
  if (c->state == State::denied) return;
  if (dir.queued > kQueueLimit / 2) return;
  if (dir.splice_wanted) {  // the recv has ended; the rest goes by splice once the queue is out
    if (dir.queue.empty() && !dir.sending && dir.zc_pending == 0) {
      dir.splicing = true;
      pump_splice(c, d);
    }
    return;
  }
  arm_recv(c, d);
}

void Worker::on_recv(Connection* c, int d, const io_uring_cqe* cqe) {
  Direction& dir = c->dir[d];
  const bool final = !(cqe->flags & IORING_CQE_F_MORE);
  if (final) {
    dir.recv_armed = false;
    --c->refs;
  }
  if (cqe->res > 0) {
    int bid = static_cast<int>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    ++buffers_out_;
    auto n = static_cast<std::uint32_t>(cqe->res);
    if (c->closing || c->state == State::denied) {
      give_buffer(bid);
    } else if (c->state == State::head) {
      c->head.append(buffer(bid), n);
      give_buffer(bid);
      on_head(c);
    } else {
      dir.queue.push_back(Chunk{buffer(bid), n, bid});
      dir.queued += n;
      dir.moved += n;
      pump(c, d);
      if (!c->closing && dir.recv_armed && !dir.cancel_sent &&
          (dir.queued > kQueueLimit ||
           (opts.splice_after && c->state == State::relaying && n == opts.buffer_size &&
            dir.moved >= opts.splice_after))) {
        if (dir.queued <= kQueueLimit) dir.splice_wanted = true;
        cancel(c, kRecv + static_cast<unsigned>(d));
        dir.cancel_sent = true;
      }
    }
    if (final && !c->closing) maybe_arm(c, d);
  } else if (cqe->res == 0) {  // end of stream
    dir.eof = true;
    if (c->state == State::head) finish(c);
    else if (!c->closing) pump(c, d);
  } else if (cqe->res == -ENOBUFS) {  // the buffer ring ran dry: again once one comes back
    if (!c->closing) {
      dir.starved = true;
      starved_.emplace_back(c, d);
    }
  } else if (cqe->res == -ECANCELED) {
    dir.cancel_sent = false;
    maybe_arm(c, d);
  } else {
    finish(c);
  }
  release(c);
}

void Worker::on_head(Connection* c) {
  std::size_t end = c->head.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (c->head.size() > kHeadLimit) finish(c);
    return;
  }
  std::string_view head(c->head);
  if (head.starts_with("CONNECT ")) {
    std::string_view target = connect_target(head);
    if (!opts.deny.empty() && target.find(opts.deny) != std::string_view::npos) {
      c->state = State::denied;
      c->dir[1].queue.push_back(Chunk{kDenied.data(), static_cast<std::uint32_t>(kDenied.size()), -1});
      c->dir[1].queued = kDenied.size();
      if (c->dir[0].recv_armed) cancel(c, kRecv + 0);  // nothing more is read from this client
      pump(c, 1);
      return;
    }
    const std::optional<std::uint16_t> port = connect_port(target);
    if (!port) return finish(c);
    c->head.erase(0, end + 4);  // what came after the CONNECT head goes on to the upstream
    c->dir[1].queue.push_back(Chunk{kEstablished.data(), static_cast<std::uint32_t>(kEstablished.size()), -1});
    c->dir[1].queued = kEstablished.size();
    start_connect(c, *port);
  } else {
    start_connect(c, 80);
  }
  if (!c->closing && !c->head.empty()) {
    c->dir[0].queue.push_front(Chunk{c->head.data(), static_cast<std::uint32_t>(c->head.size()), -1});
    c->dir[0].queued += c->head.size();
  }
}

void Worker::start_connect(Connection* c, std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    std::fprintf(stderr, "awf-floor-uring: socket: %s\n", std::strerror(errno));
    return finish(c);
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->fd[1] = fd;
  c->state = State::connecting;
  // The kernel reads the address when the batch is submitted, so it lives in
  // the connection, not on this stack.
  c->upstream.sin_family = AF_INET;
  c->upstream.sin_addr = opts.upstream;
  c->upstream.sin_port = htons(port);
  io_uring_sqe* s = sqe();
  io_uring_prep_connect(s, fd, reinterpret_cast<sockaddr*>(&c->upstream), sizeof c->upstream);
  io_uring_sqe_set_data64(s, tag(c, kConnect));
  ++c->refs;
}

void Worker::on_connect(Connection* c, int res) {
  --c->refs;
  if (c->closing) return release(c);
  if (res < 0) {
    finish(c);
    return release(c);
  }
  c->state = State::relaying;
  arm_recv(c, 1);
  pump(c, 0);
  if (!c->closing) pump(c, 1);
  release(c);
}

// Sends the front of a direction's queue when nothing of it is in flight;
// passes an end of stream on once the queue is empty.
void Worker::pump(Connection* c, int d) {
  Direction& dir = c->dir[d];
  if (c->closing || dir.sending || dir.splicing) return;
  if (c->state != State::relaying && c->state != State::denied) return;
  if (dir.queue.empty()) {
    if (c->state == State::denied) return finish(c);
    if (dir.eof && !dir.shut && dir.zc_pending == 0) {
      ::shutdown(c->fd[1 - d], SHUT_WR);
      dir.shut = true;
      if (c->dir[1 - d].shut) finish(c);
    }
    return;
  }
  const Chunk& front = dir.queue.front();
  io_uring_sqe* s = sqe();
  const bool zc = opts.send_zc_min && front.len >= opts.send_zc_min && front.bid >= 0;
  if (zc) {
    io_uring_prep_send_zc(s, c->fd[1 - d], front.data, front.len, MSG_NOSIGNAL, 0);
  } else {
    io_uring_prep_send(s, c->fd[1 - d], front.data, front.len, MSG_NOSIGNAL);
  }
  io_uring_sqe_set_data64(s, tag(c, kSend + static_cast<unsigned>(d)));
  dir.sending = true;
  ++c->refs;
}

void Worker::on_send(Connection* c, int d, const io_uring_cqe* cqe) {
  Direction& dir = c->dir[d];
  --c->refs;
  if (cqe->flags & IORING_CQE_F_NOTIF) {  // send_zc: the kernel no longer reads the buffers
    if (--dir.zc_pending == 0) {
      for (int bid : dir.zc_buffers) give_buffer(bid);
      dir.zc_buffers.clear();
      pump(c, d);  // an end of stream or the switch to splice may have waited for this
      maybe_arm(c, d);
    }
    return release(c);
  }
  dir.sending = false;
  const bool zc = cqe->flags & IORING_CQE_F_MORE;  // a notification follows
  if (zc) {
    ++dir.zc_pending;
    ++c->refs;
  }
  Chunk& front = dir.queue.front();
  auto n = cqe->res > 0 ? static_cast<std::uint32_t>(cqe->res) : 0;
  front.data += n;
  front.len -= n;
  dir.queued -= n;
  if (front.len == 0 || c->closing || cqe->res < 0) {
    if (front.bid >= 0) {
      if (dir.zc_pending > 0) dir.zc_buffers.push_back(front.bid);  // a send_zc may still read it
      else give_buffer(front.bid);
    }
    dir.queue.pop_front();
  }
  if (cqe->res < 0) finish(c);
  if (!c->closing) {
    pump(c, d);
    maybe_arm(c, d);
  }
  release(c);
}

void Worker::pump_splice(Connection* c, int d) {
  Direction& dir = c->dir[d];
  if (c->closing) return;
  if (dir.pipe_read < 0) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return finish(c);
    ::fcntl(fds[0], F_SETPIPE_SZ, kPipeBytes);  // best effort: bigger steps
    dir.pipe_read = fds[0];
    dir.pipe_write = fds[1];
  }
  // In, then out until the pipe is empty, then in again: a splice from a
  // socket into a pipe that is not empty can return 0 when the pipe has no
  // room, which would read as the end of the stream.
  if (!dir.splice_in_flight && !dir.eof && dir.in_pipe == 0) {
    io_uring_sqe* s = sqe();
    io_uring_prep_splice(s, c->fd[d], -1, dir.pipe_write, -1, kPipeBytes, SPLICE_F_MOVE);
    io_uring_sqe_set_data64(s, tag(c, kSpliceIn + static_cast<unsigned>(d)));
    dir.splice_in_flight = true;
    ++c->refs;
  }
  if (!dir.splice_out_flight && dir.in_pipe > 0) {
    io_uring_sqe* s = sqe();
    io_uring_prep_splice(s, dir.pipe_read, -1, c->fd[1 - d], -1, static_cast<unsigned>(dir.in_pipe), SPLICE_F_MOVE);
    io_uring_sqe_set_data64(s, tag(c, kSpliceOut + static_cast<unsigned>(d)));
    dir.splice_out_flight = true;
    ++c->refs;
  }
  if (dir.eof && dir.in_pipe == 0 && !dir.splice_out_flight && !dir.shut) {
    ::shutdown(c->fd[1 - d], SHUT_WR);
    dir.shut = true;
    if (c->dir[1 - d].shut) finish(c);
  }
}

void Worker::on_splice_in(Connection* c, int d, int res) {
  Direction& dir = c->dir[d];
  --c->refs;
  dir.splice_in_flight = false;
  if (!c->closing) {
    if (res > 0) dir.in_pipe += static_cast<std::size_t>(res);
    else if (res == 0) dir.eof = true;
    else return finish(c), release(c);
    pump_splice(c, d);
  }
  release(c);
}

void Worker::on_splice_out(Connection* c, int d, int res) {
  Direction& dir = c->dir[d];
  --c->refs;
  dir.splice_out_flight = false;
  if (!c->closing) {
    if (res > 0) dir.in_pipe -= static_cast<std::size_t>(res);
    else return finish(c), release(c);
    pump_splice(c, d);
  }
  release(c);
}

// Ends a connection: stops what it has armed, gives back the buffers no
// operation holds and closes its descriptors; it is freed once the last
// operation naming it has completed (release).
void Worker::finish(Connection* c) {
  if (c->closing) return;
  c->closing = true;
  for (int d = 0; d < 2; ++d) {
    Direction& dir = c->dir[d];
    if (dir.recv_armed) cancel(c, kRecv + static_cast<unsigned>(d));
    if (dir.splice_in_flight) cancel(c, kSpliceIn + static_cast<unsigned>(d));
    if (dir.splice_out_flight) cancel(c, kSpliceOut + static_cast<unsigned>(d));
    for (std::size_t i = dir.sending ? 1 : 0; i < dir.queue.size(); ++i)
      if (dir.queue[i].bid >= 0) give_buffer(dir.queue[i].bid);
    if (dir.queue.size() > 1 || !dir.sending) dir.queue.resize(dir.sending ? 1 : 0);
    if (dir.starved) {
      dir.starved = false;
      std::erase(starved_, std::pair<Connection*, int>(c, d));
    }
  }
  auto close_later = [&](int& fd) {
    if (fd < 0) return;
    io_uring_sqe* s = sqe();
    io_uring_prep_close(s, fd);
    s->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(s, kIgnore);
    fd = -1;
  };
  close_later(c->fd[0]);
  close_later(c->fd[1]);
  for (Direction& dir : c->dir) {
    close_later(dir.pipe_read);
    close_later(dir.pipe_write);
  }
}

void Worker::release(Connection* c) {
  if (c->closing && c->refs == 0) delete c;
}

void Worker::run() {
  for (;;) {
    int rc = io_uring_submit_and_wait(&ring_, 1);
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
      std::fprintf(stderr, "awf-floor-uring: io_uring_enter: %s\n", std::strerror(-rc));
      std::exit(1);
    }
    unsigned head, seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++seen;
      std::uint64_t data = cqe->user_data;
      std::uint64_t kind = data & 15;
      auto* c = reinterpret_cast<Connection*>(data & ~std::uint64_t{15});
      int d = static_cast<int>(kind & 1);
      switch (kind & ~std::uint64_t{1}) {
        case kIgnore:
          if (kind == kAccept) on_accept(cqe);
          break;
        case kAcceptRetry:
          arm_accept();
          break;
        case kConnect:
          on_connect(c, cqe->res);
          break;
        case kRecv:
          on_recv(c, d, cqe);
          break;
        case kSend:
          on_send(c, d, cqe);
          break;
        case kSpliceIn:
          on_splice_in(c, d, cqe->res);
          break;
        case kSpliceOut:
          on_splice_out(c, d, cqe->res);
          break;
        default:
          break;
      }
    }
    io_uring_cq_advance(&ring_, seen);
    // Directions whose recv ended for want of buffers, armed again now that
    // some are back.
    while (!starved_.empty() && buffers_out_ < opts.buffers) {
      auto [c, d] = starved_.back();
      starved_.pop_back();
      c->dir[d].starved = false;
      maybe_arm(c, d);
    }
  }
}

int open_listener(const sockaddr_in& at, const std::string& text) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);  // one listener per thread
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&at), sizeof at) != 0 || ::listen(fd, 4096) != 0) {
    std::fprintf(stderr, "awf-floor-uring: listen on \"%s\": %s\n", text.c_str(), std::strerror(errno));
    std::exit(1);
  }
  return fd;
}

[[noreturn]] void usage(const std::string& bad) {
  std::fprintf(stderr,
               "usage: awf-floor-uring --upstream IPV4 [--listen IP:PORT] [--deny TEXT] [--threads N]\n"
               "                       [--buffers N] [--buffer-size BYTES] [--splice-after BYTES] [--send-zc-min BYTES] [--check]\n"
               "%s\n",
               bad.c_str());
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0", upstream;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::optional<std::string> inline_value;  // --name=value
    if (auto eq = a.find('='); a.starts_with("--") && eq != std::string::npos) {
      inline_value = a.substr(eq + 1);
      a.resize(eq);
    }
    auto value = [&]() -> std::string {
      if (inline_value) return *inline_value;
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    auto number = [&](std::uint64_t lo, std::uint64_t hi) {
      std::string text = value();
      auto n = parse_number(text);
      if (!n || *n < lo || *n > hi)
        usage(a + " \"" + text + "\" is not a number from " + std::to_string(lo) + " to " + std::to_string(hi));
      return *n;
    };
    if (a == "--listen") listen = value();
    else if (a == "--upstream") upstream = value();
    else if (a == "--deny") opts.deny = value();
    else if (a == "--threads") opts.threads = static_cast<int>(number(1, 256));
    else if (a == "--buffers") {
      opts.buffers = static_cast<unsigned>(number(16, 32768));
      if (opts.buffers & (opts.buffers - 1)) usage("--buffers \"" + std::to_string(opts.buffers) + "\" is not a power of two");
    } else if (a == "--buffer-size") {
      opts.buffer_size = static_cast<unsigned>(number(1024, 1 << 20));
    } else if (a == "--splice-after") opts.splice_after = number(0, UINT64_MAX);
    else if (a == "--send-zc-min") opts.send_zc_min = static_cast<std::uint32_t>(number(0, UINT32_MAX));
    else if (a == "--check") check_only = true;
    else usage("unknown argument \"" + a + "\"");
  }
  if (check_only) {  // only whether io_uring works here, with what this program needs
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    Worker probe(fd);
    std::string problem = probe.set_up();
    if (!problem.empty()) {
      std::fprintf(stderr, "awf-floor-uring: io_uring is unavailable here: %s\n", problem.c_str());
      return kUnavailable;
    }
    std::printf("awf-floor-uring: io_uring works here\n");
    return 0;
  }
  if (!parse_address(listen, opts.listen)) usage("--listen \"" + listen + "\" is not IPV4:PORT");
  if (::inet_pton(AF_INET, upstream.c_str(), &opts.upstream) != 1)
    usage("--upstream \"" + upstream + "\" is not an IPv4 address");
  std::signal(SIGPIPE, SIG_IGN);

  // The first listener picks the port (0: any); the others share it.
  std::vector<int> listeners{open_listener(opts.listen, listen)};
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  ::getsockname(listeners[0], reinterpret_cast<sockaddr*>(&bound), &len);
  for (int i = 1; i < opts.threads; ++i) listeners.push_back(open_listener(bound, listen));

  // Each ring is made by the thread that submits to it (single issuer); the
  // port is announced only once every one of them is set up.
  std::vector<std::promise<std::string>> ready(static_cast<std::size_t>(opts.threads));
  std::vector<std::thread> threads;
  for (int i = 0; i < opts.threads; ++i) {
    threads.emplace_back([i, &listeners, &ready] {
      auto* w = new Worker(listeners[static_cast<std::size_t>(i)]);
      std::string problem = w->set_up();
      ready[static_cast<std::size_t>(i)].set_value(problem);
      if (!problem.empty()) return;
      w->run();
    });
  }
  for (auto& r : ready) {
    std::string problem = r.get_future().get();
    if (!problem.empty()) {
      std::fprintf(stderr, "awf-floor-uring: io_uring is unavailable here: %s\n", problem.c_str());
      std::_Exit(kUnavailable);
    }
  }
  char ip[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &bound.sin_addr, ip, sizeof ip);
  std::printf("awf-floor-uring: listening on %s:%u\n", ip, ntohs(bound.sin_port));
  std::fflush(stdout);
  for (auto& t : threads) t.join();
}
