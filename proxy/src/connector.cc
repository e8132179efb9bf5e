// Happy-eyeballs connects: see connector.h.
#include "awf/proxy/connector.h"

#include <boost/asio/post.hpp>

namespace awf::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

struct Connector::Attempt {
  explicit Attempt(const asio::any_io_executor& ex, tcp::endpoint e) : socket(ex), endpoint(e) {}
  tcp::socket socket;
  tcp::endpoint endpoint;
};

std::vector<tcp::endpoint> Connector::interleave(std::vector<tcp::endpoint> in) {
  if (in.size() < 2) return in;
  const bool first_v6 = in.front().address().is_v6();
  std::vector<tcp::endpoint> same, other;
  for (auto& e : in) (e.address().is_v6() == first_v6 ? same : other).push_back(e);
  std::vector<tcp::endpoint> out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < same.size() || i < other.size(); ++i) {
    if (i < same.size()) out.push_back(same[i]);
    if (i < other.size()) out.push_back(other[i]);
  }
  return out;
}

Connector::Connector(const asio::any_io_executor& executor, std::vector<tcp::endpoint> candidates,
                     std::chrono::milliseconds attempt_delay, Handler handler)
    : executor_(executor),
      candidates_(interleave(std::move(candidates))),
      attempt_delay_(attempt_delay),
      handler_(std::move(handler)),
      delay_timer_(executor) {}

std::shared_ptr<Connector> Connector::start(const asio::any_io_executor& executor, std::vector<tcp::endpoint> candidates,
                                            std::chrono::milliseconds attempt_delay, Handler handler) {
  auto c = std::make_shared<Connector>(executor, std::move(candidates), attempt_delay, std::move(handler));
  if (c->candidates_.empty()) {
    c->last_error_ = asio::error::host_not_found;
    c->last_detail_ = "no address to connect to";
    asio::post(executor, [c] { c->fail(); });
  } else {
    c->launch_next();
  }
  return c;
}

void Connector::launch_next() {
  if (next_ >= candidates_.size()) {
    if (pending_ == 0) fail();
    return;
  }
  attempts_.push_back(std::make_unique<Attempt>(executor_, candidates_[next_++]));
  Attempt& a = *attempts_.back();
  ++pending_;
  a.socket.async_connect(a.endpoint, [self = shared_from_this(), &a](const error_code& ec) { self->on_attempt(a, ec); });
  const unsigned generation = ++delay_generation_;
  if (next_ < candidates_.size()) {
    delay_timer_.expires_after(attempt_delay_);
    delay_timer_.async_wait([self = shared_from_this(), generation](const error_code& ec) {
      if (ec || self->finished_ || generation != self->delay_generation_) return;
      self->launch_next();  // the latest attempt is still silent: race the next address
    });
  }
}

void Connector::on_attempt(Attempt& attempt, const error_code& ec) {
  --pending_;
  if (finished_) return;  // cancelled, or another attempt won
  if (ec) {
    last_error_ = ec;
    last_failed_ = attempt.endpoint;
    last_detail_ = ec.message() + " (" + attempt.endpoint.address().to_string() + ")";
    error_code ignored;
    attempt.socket.close(ignored);
    delay_timer_.cancel();
    return launch_next();  // no reason to wait out the delay after a failure
  }
  finished_ = true;
  delay_timer_.cancel();
  for (auto& other : attempts_) {
    if (other.get() != &attempt) {
      error_code ignored;
      other->socket.close(ignored);
    }
  }
  error_code ignored;
  attempt.socket.set_option(tcp::no_delay(true), ignored);
  Handler h = std::move(handler_);
  h(Outcome{{}, std::move(attempt.socket), attempt.endpoint, {}});
}

void Connector::fail() {
  if (finished_) return;
  finished_ = true;
  Handler h = std::move(handler_);
  h(Outcome{last_error_, tcp::socket(executor_), last_failed_, last_detail_});
}

void Connector::cancel() {
  if (finished_) return;
  finished_ = true;
  delay_timer_.cancel();
  for (auto& a : attempts_) {
    error_code ignored;
    a->socket.close(ignored);
  }
  handler_ = nullptr;  // drops whatever the handler keeps alive
}

}  // namespace awf::proxy
