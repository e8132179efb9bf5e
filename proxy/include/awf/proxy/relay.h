// The tunnel core shared by every front end: moves bytes both ways between
// two connected TCP sockets until both directions ended, with half-close
// passed on (FIN in one direction does not stop the other), an idle deadline
// that any activity pushes back, and a lifetime cap. Uses splice(2) through
// a pipe per direction while bytes flow (none while idle): empty pipes go
// back to a small per-thread pool (no pipe2/close per burst) and are grown
// to 1 MiB (F_SETPIPE_SZ) so bulk transfers take fewer splice calls; falls
// back to a buffer copy when pipes are short.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace awf::proxy {

class Relay : public std::enable_shared_from_this<Relay> {
 public:
  struct Totals {
    std::uint64_t client_to_upstream = 0;
    std::uint64_t upstream_to_client = 0;
    std::string end;  // "closed", "idle timeout", "lifetime", "reset: ...", "shutdown"
  };
  using Done = std::function<void(const Totals&)>;

  struct Options {
    std::chrono::milliseconds idle_timeout{1'800'000};
    std::chrono::steady_clock::time_point lifetime_end = std::chrono::steady_clock::time_point::max();
    bool use_splice = true;
  };

  // Takes ownership of both sockets. `to_upstream` / `to_client` are bytes
  // already read on the other side (pipelined data) sent first. `done` runs
  // once, on the sockets' executor, after both sockets are closed.
  static std::shared_ptr<Relay> start(boost::asio::ip::tcp::socket client, boost::asio::ip::tcp::socket upstream,
                                      std::string to_upstream, std::string to_client, Options options, Done done);

  // Relays alive in this process now, every thread (the admin listener's
  // awf_proxy_active_tunnels).
  static std::uint64_t active();

  // Ends the relay now (shutdown, reload does not); `done` still runs.
  void close(const char* why);

  struct Direction;
  ~Relay();

 private:
  Relay(boost::asio::ip::tcp::socket client, boost::asio::ip::tcp::socket upstream, Options options, Done done);
  void begin(std::string to_upstream, std::string to_client);
  void pump(Direction& d);
  void pump_copy(Direction& d);
  void wait_readable(Direction& d);
  void finish_direction(Direction& d);
  void arm_timer();
  void on_timer(const boost::system::error_code& ec);
  void abort(const std::string& why);
  void maybe_done();

  boost::asio::ip::tcp::socket client_;
  boost::asio::ip::tcp::socket upstream_;
  boost::asio::steady_timer timer_;
  Options options_;
  Done done_;
  std::unique_ptr<Direction> up_;    // client -> upstream
  std::unique_ptr<Direction> down_;  // upstream -> client
  std::chrono::steady_clock::time_point last_activity_;
  Totals totals_;
  bool closed_ = false;
  bool reported_ = false;
};

}  // namespace awf::proxy
