// Asio's reactor keeps one record (about 200 bytes) per descriptor it watches
// and, when the descriptor closes, keeps the record on a free list for the next
// one; records are never given back to the heap. Made by a worker during a
// load, they sit in its heap between the connections' buffers and, once the
// load is over, stay live there: each pins the page it lies in, so RSS after a
// load of N connections stays some 4 KiB per connection above where it
// started, even after the freed memory is trimmed. Made ahead on another
// thread, they lie in that thread's heap, apart from every connection's.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>

namespace awf::proxy {

// Has `io`'s reactor make `count` records and put them on its free list: that
// many descriptor objects watch one open /dev/null at once (epoll refuses it,
// Asio keeps the record anyway), then all are released; that one descriptor,
// opened by the first call, stays open for good, none is spent per record. The work
// runs on `maker`'s thread, `delay` from now (a command that ends at once never
// pays for it), in batches of kRecordBatch, each its own handler, so whatever
// else `maker` does waits for one batch at most (about a ms).
inline constexpr std::size_t kRecordBatch = 512;
void reserve_descriptor_records(boost::asio::io_context& io, std::size_t count, boost::asio::io_context& maker,
                                std::chrono::milliseconds delay = {});

}  // namespace awf::proxy
