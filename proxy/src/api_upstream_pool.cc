// The API proxy's idle provider connections per worker (see
// api_upstream_pool.h).
#include "awf/proxy/api_upstream_pool.h"

#include <algorithm>

#include "awf/proxy/context.h"

namespace awf::proxy {

using error_code = boost::system::error_code;
using tcp = boost::asio::ip::tcp;

char* ApiUpstream::piece() {
  if (!piece_) piece_ = std::make_unique_for_overwrite<char[]>(kPieceBytes);
  return piece_.get();
}

void ApiUpstream::release_buffers() {
  piece_.reset();
  buffer.shrink_to_fit();
}

void ApiUpstream::close() {
  error_code ec;
  stream.lowest_layer().close(ec);
}

ApiUpstreamPool::~ApiUpstreamPool() { clear(); }

void ApiUpstreamPool::park(const std::string& key, std::shared_ptr<ApiUpstream> up) {
  auto& list = idle_[key];
  if (list.size() >= kIdlePerHost) {
    up->close();
    return;
  }
  auto entry = std::make_shared<Entry>(std::move(up));
  entry->parked = std::chrono::steady_clock::now();
  list.push_front(entry);
  // Anything readable on an idle connection (the provider's close, a TLS
  // alert, a stray byte) ends it: no request of ours is waiting for it.
  entry->up->stream.next_layer().async_wait(tcp::socket::wait_read, [this, key, entry](const error_code&) {
    if (!entry->gone) end(key, entry);
  });
  entry->expiry.expires_after(kIdleLimit);
  entry->expiry.async_wait([this, key, entry](const error_code& ec) {
    if (!ec && !entry->gone) end(key, entry);
  });
}

void ApiUpstreamPool::end(const std::string& key, const std::shared_ptr<Entry>& entry) {
  entry->gone = true;
  entry->expiry.cancel();
  entry->up->close();
  if (auto it = idle_.find(key); it != idle_.end()) {
    it->second.remove(entry);
    if (it->second.empty()) idle_.erase(it);
  }
}

std::shared_ptr<ApiUpstream> ApiUpstreamPool::take(const std::string& key) {
  auto it = idle_.find(key);
  if (it == idle_.end()) return nullptr;
  auto& list = it->second;
  const auto now = std::chrono::steady_clock::now();
  std::shared_ptr<ApiUpstream> found;
  while (!list.empty() && !found) {
    auto entry = list.front();
    list.pop_front();
    entry->gone = true;
    entry->expiry.cancel();
    error_code ec;
    entry->up->stream.next_layer().cancel(ec);  // the readability wait completes as aborted, ignored
    // Its wait may not have run yet: look now.
    if (now - entry->parked < kIdleLimit && entry->up->stream.next_layer().is_open() &&
        !entry->up->stream.has_buffered_input() && upstream_is_quiet(entry->up->stream.next_layer())) {
      found = std::move(entry->up);
    } else {
      entry->up->close();
    }
  }
  if (list.empty()) idle_.erase(it);
  return found;
}

void ApiUpstreamPool::clear() {
  for (auto& [key, list] : idle_) {
    for (auto& entry : list) {
      entry->gone = true;
      entry->expiry.cancel();
      entry->up->close();
    }
  }
  idle_.clear();
}

std::size_t ApiUpstreamPool::idle() const {
  std::size_t n = 0;
  for (const auto& [key, list] : idle_) n += list.size();
  return n;
}

}  // namespace awf::proxy
