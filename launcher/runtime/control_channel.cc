// Messages over the control channel's SOCK_SEQPACKET socketpair: send,
// receive (descriptors arrive close-on-exec), and a wait with a deadline.
#include "control_channel.h"

#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "awf/intercept/socket_activation.h"
#include "awf/errno_text.h"

namespace awf::runtime {

Status send_message(int fd, char tag, const std::string& payload, const std::vector<int>& fds) {
  std::string data(1, tag);
  data += payload;
  iovec iov{data.data(), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control;
  if (!fds.empty()) {
    control.assign(CMSG_SPACE(sizeof(int) * fds.size()), 0);
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t sent;
  do {
    sent = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return Error{"control channel: send: " + errno_text(errno)};
  return ok_status();
}

Result<Message> receive_message(int fd) {
  std::array<char, 4096> data{};
  iovec iov{data.data(), data.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * intercept::kMaxActivatedFds)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t got;
  do {
    got = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  } while (got < 0 && errno == EINTR);
  if (got < 0) return Error{"control channel: receive: " + errno_text(errno)};
  Message out;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < n; ++i) {
      int received;
      std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      out.fds.emplace_back(received);
    }
  }
  if (msg.msg_flags & MSG_CTRUNC) return Error{"control channel: descriptors truncated"};
  if (got == 0) return out;
  out.tag = data[0];
  out.payload.assign(data.data() + 1, static_cast<std::size_t>(got) - 1);
  return out;
}

Result<Message> await_message(int control, const SignalWatch& signals, Clock::time_point deadline, const char* what,
                              int& signal_seen) {
  for (;;) {
    pollfd fds[2] = {{control, POLLIN, 0}, {signals.fd(), POLLIN, 0}};
    const int n = ::poll(fds, 2, remaining_ms(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error{std::string("poll while waiting for ") + what + ": " + errno_text(errno)};
    if (n == 0) return Error{std::string("timed out waiting for ") + what};
    if (fds[1].revents & POLLIN) {
      if (int sig = signals.take(); sig != 0) {
        signal_seen = sig;
        return Error{std::string("interrupted by signal while waiting for ") + what};
      }
    }
    if (fds[0].revents) return receive_message(control);
  }
}

}  // namespace awf::runtime
