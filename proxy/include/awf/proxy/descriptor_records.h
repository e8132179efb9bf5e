// Asio's reactor keeps one record (about 200 bytes) per descriptor it watches
// and, when the descriptor closes, keeps the record on a free list for the next
// one; records are never given back to the heap. Made one at a time during a
// load, they sit between the connections' buffers and, once the load is over,
// stay live there: each pins the heap page it lies in, so RSS after a load of
// N connections stays some 4 KiB per connection above where it started, even
// after the freed memory is trimmed. Made ahead, side by side, they pin only
// their own pages.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstddef>

namespace awf::proxy {

// Has `io`'s reactor make `count` records and put them on its free list: that
// many descriptor objects watch one open /dev/null at once (epoll refuses it,
// Asio keeps the record anyway), then all are released, the descriptor left
// open, closed once at the end. No descriptor is spent per record. Done on
// `io`'s thread in batches of kRecordBatch, each its own handler, so a
// connection accepted meanwhile waits for one batch at most (about a ms).
inline constexpr std::size_t kRecordBatch = 512;
void reserve_descriptor_records(boost::asio::io_context& io, std::size_t count);

}  // namespace awf::proxy
