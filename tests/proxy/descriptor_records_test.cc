// Reactor records made ahead (descriptor_records.h): descriptors watched later
// reuse them instead of allocating their own between the connections' memory.
#include "awf/proxy/descriptor_records.h"

#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <gtest/gtest.h>
#include <vector>

#include "awf/testing/sanitizers.h"

namespace awf::proxy {
namespace {

namespace asio = boost::asio;

#ifndef AWF_UNDER_ASAN  // the tests below read glibc's heap figures, which ASan's allocator does not keep
// Heap bytes allocated while `n` descriptors (dups of /dev/null) are watched at once.
std::size_t heap_growth_watching(asio::io_context& io, std::size_t n) {
  std::vector<asio::posix::stream_descriptor> held;
  held.reserve(n);
  const std::size_t before = ::mallinfo2().uordblks;
  for (std::size_t i = 0; i < n; ++i) {
    asio::posix::stream_descriptor d(io);
    d.assign(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    held.push_back(std::move(d));
  }
  const std::size_t after = ::mallinfo2().uordblks;
  return after > before ? after - before : 0;
}
#endif

TEST(DescriptorRecords, LaterDescriptorsReuseTheRecordsMadeAhead) {
#ifdef AWF_UNDER_ASAN
  GTEST_SKIP() << "AddressSanitizer's allocator does not report glibc's heap figures";
#else
  constexpr std::size_t kCount = 600;  // each watched one is a descriptor: under a 1024 limit
  asio::io_context cold;
  {
    asio::posix::stream_descriptor first(cold);  // the reactor itself, made once
    first.assign(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  }
  const std::size_t without = heap_growth_watching(cold, kCount);
  EXPECT_GE(without, kCount * 64) << "each watched descriptor should cost a record";

  asio::io_context warm, maker;
  reserve_descriptor_records(warm, kCount, maker);
  EXPECT_EQ(warm.run(), 0u);  // the records are made on maker's thread
  EXPECT_EQ(maker.run(), 1 + (kCount + kRecordBatch - 1) / kRecordBatch);  // the start, then one handler per batch
  const std::size_t with = heap_growth_watching(warm, kCount);
  EXPECT_LT(with, without / 10) << "records made ahead: " << with << " bytes, none made: " << without;
#endif
}

TEST(DescriptorRecords, NothingAskedNothingPosted) {
  asio::io_context io;
  reserve_descriptor_records(io, 0, io);
  EXPECT_EQ(io.run(), 0u);
}

}  // namespace
}  // namespace awf::proxy
