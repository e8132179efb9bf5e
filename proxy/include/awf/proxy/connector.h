// Connecting upstream over every address a name resolved to, happy-eyeballs
// style (RFC 8305 section 5, without its DNS part): address families
// interleaved, the next attempt started as soon as the previous one fails or
// after `attempt_delay` without an answer, the first to connect wins and the
// others are closed. A silent address costs one attempt delay, not the
// whole connect timeout.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace awf::proxy {

class Connector : public std::enable_shared_from_this<Connector> {
 public:
  struct Outcome {
    boost::system::error_code error;          // set when every attempt failed
    boost::asio::ip::tcp::socket socket;      // connected, TCP_NODELAY on (no error)
    boost::asio::ip::tcp::endpoint endpoint;  // the winner, or the last address tried
    std::string detail;                       // on failure: "<reason> (<address>)" of the last attempt
  };
  using Handler = std::function<void(Outcome)>;

  // RFC 8305's recommended Connection Attempt Delay.
  static constexpr std::chrono::milliseconds kDefaultAttemptDelay{250};

  // Starts connecting; `handler` runs once on `executor`, unless cancel()
  // comes first. `candidates` must not be empty.
  static std::shared_ptr<Connector> start(const boost::asio::any_io_executor& executor,
                                          std::vector<boost::asio::ip::tcp::endpoint> candidates,
                                          std::chrono::milliseconds attempt_delay, Handler handler);

  // Closes every attempt; the handler will not run.
  void cancel();

  // The order attempts are made in: families alternate, starting with the
  // family of the first address; order within a family is kept.
  static std::vector<boost::asio::ip::tcp::endpoint> interleave(std::vector<boost::asio::ip::tcp::endpoint> in);

  // Private, for make_shared.
  Connector(const boost::asio::any_io_executor& executor, std::vector<boost::asio::ip::tcp::endpoint> candidates,
            std::chrono::milliseconds attempt_delay, Handler handler);

 private:
  struct Attempt;
  void launch_next();
  void on_attempt(Attempt& attempt, const boost::system::error_code& ec);
  void fail();

  boost::asio::any_io_executor executor_;
  std::vector<boost::asio::ip::tcp::endpoint> candidates_;
  std::chrono::milliseconds attempt_delay_;
  Handler handler_;
  boost::asio::steady_timer delay_timer_;
  std::vector<std::unique_ptr<Attempt>> attempts_;
  std::size_t next_ = 0;     // index of the next candidate to try
  std::size_t pending_ = 0;  // attempts still waiting for an answer
  unsigned delay_generation_ = 0;  // a delay timer from before the latest launch is stale
  bool finished_ = false;
  boost::asio::ip::tcp::endpoint last_failed_;
  std::string last_detail_;
  boost::system::error_code last_error_;
};

}  // namespace awf::proxy
