// Descriptor records made ahead, in batches (descriptor_records.h).
#include "awf/proxy/descriptor_records.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <vector>

namespace awf::proxy {
namespace {

namespace asio = boost::asio;

// The records being made. Every object in `held` wraps the same descriptor,
// so none may ever close it: they are released (record to the free list,
// descriptor left alone), also when `maker` goes before the reserve is done.
struct Reserve {
  asio::io_context& io;
  asio::io_context& maker;
  int fd;
  std::size_t count;
  std::vector<asio::posix::stream_descriptor> held;
  asio::steady_timer start;

  Reserve(asio::io_context& io, asio::io_context& maker, int fd, std::size_t count)
      : io(io), maker(maker), fd(fd), count(count), start(maker) {
    held.reserve(count);
  }
  Reserve(const Reserve&) = delete;
  Reserve& operator=(const Reserve&) = delete;
  ~Reserve() {
    for (auto& d : held) d.release();
    held.clear();
  }
};

void make_batch(std::shared_ptr<Reserve> r) {
  asio::post(r->maker, [r] {
    for (std::size_t n = 0; n < kRecordBatch && r->held.size() < r->count; ++n) {
      asio::posix::stream_descriptor d(r->io);
      boost::system::error_code ec;
      d.assign(r->fd, ec);  // io's reactor makes the record here, in this thread's heap
      if (ec) {
        r->count = r->held.size();  // best effort: keep what was made
        break;
      }
      r->held.push_back(std::move(d));
    }
    if (r->held.size() < r->count) make_batch(r);
    // else the last reference goes with this handler: ~Reserve releases them all
  });
}

}  // namespace

void reserve_descriptor_records(asio::io_context& io, std::size_t count, asio::io_context& maker,
                                std::chrono::milliseconds delay) {
  if (count == 0) return;
  // Opened by the first call, at start-up, and kept: a descriptor taken and
  // given back later would come and go under a proxy that has run out of them.
  static const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;  // best effort: records are then made as connections come
  auto r = std::make_shared<Reserve>(io, maker, fd, count);
  r->start.expires_after(delay);
  r->start.async_wait([r](const boost::system::error_code& ec) {
    if (!ec) make_batch(r);
  });
}

}  // namespace awf::proxy
