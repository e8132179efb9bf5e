// The access-log records of refused DNS queries of one I/O thread, with
// repeats folded into a count. A refused query costs a few dozen bytes to
// send and used to cost a line in access.log, one in audit.jsonl and one on
// stderr, every time: a client re-asking a refused name in a loop (stub
// resolvers retry, beacons poll) filled the disk at several times its own
// traffic. No I/O and no clock of its own, so tests drive it directly.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

#include "awf/proxy/access_log.h"

namespace awf::proxy {

// The first refusal of a (client address, name, type) is written at once;
// identical ones in the `window` after it are only counted, and the count is
// written as one summary record (LogRecord::repeated, the latest query's
// fields) when the window ends (sweep) or at shutdown (flush). A name asked
// without pause thus costs two records per window. At most `max_keys`
// triples are remembered: a new one beyond that writes every pending
// summary first and starts the table afresh, so memory stays bounded and no
// count is lost. Distinct names are never folded: each is information.
class DnsRefusalLog {
 public:
  using Clock = std::chrono::steady_clock;
  using Write = std::function<void(LogRecord)>;
  static constexpr std::chrono::milliseconds kWindow{10'000};
  static constexpr std::size_t kMaxKeys = 1024;

  explicit DnsRefusalLog(std::chrono::milliseconds window = kWindow, std::size_t max_keys = kMaxKeys)
      : window_(window), max_keys_(max_keys) {}

  // One refused query at `now`. True when `record` itself was written (the
  // first of its kind in its window), false when it was only counted.
  bool refused(LogRecord record, Clock::time_point now, const Write& write);

  // Writes the summary of every window that ended by `now` and forgets those
  // triples. Returns the end of the earliest window still open, if any.
  std::optional<Clock::time_point> sweep(Clock::time_point now, const Write& write);

  // Writes every pending summary and forgets everything (shutdown).
  void flush(const Write& write);

  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Clock::time_point window_end;
    std::uint64_t repeats = 0;
    LogRecord latest;  // the last repeat: its time and source port go into the summary
  };
  static void write_summary(Entry& entry, const Write& write);

  std::chrono::milliseconds window_;
  std::size_t max_keys_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace awf::proxy
