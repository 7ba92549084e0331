// SPDX-License-Identifier: Apache-2.0
// The contract between wisp (vmm/user_net.cpp, the launcher) and its user-mode network helper,
// wisp-net-user (netuser/main.cpp): the helper's command line and its one-line status report.
//
//   wisp-net-user --socket-fd 3 --status-fd 4 [--parent-pid PID] [--mtu N]
//                 [--hostfwd tcp:127.0.0.1:8080-:80]...
//
// fd 3: wisp's SOCK_SEQPACKET socket, one Ethernet frame per message, no virtio-net header.
// fd 4: the status pipe; the helper writes one line and closes it before it serves frames:
//   "ready"                every host forward listens; frames flow from now on
//   "usage MESSAGE"        the configuration cannot work (a host port in use, ...); it exits
//   "host MESSAGE"         a host failure (libslirp refused to start, a bad fd, ...); it exits
// An end of file without a line means the helper died first (its stderr is wisp's).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "vmm/machine_config.h"

namespace vmm::netuser {

inline constexpr char const* kHelperName = "wisp-net-user";
inline constexpr int kSocketFd = 3;  // where the launcher places the frame socket in the helper
inline constexpr int kStatusFd = 4;  // and the status pipe's write end

// Frames the helper accepts from wisp: at least an Ethernet header, at most what an IPv4
// packet (64 KiB) needs. Others are dropped and counted.
inline constexpr size_t kMinFrame = 14;
inline constexpr size_t kMaxFrame = 65535;

/// "tcp:127.0.0.1:8080-:80": a forward as the helper's --hostfwd takes it (address always given).
std::string format_forward(HostForward const& forward);
/// The inverse of format_forward; nullopt for anything else.
std::optional<HostForward> parse_forward(std::string_view text);
/// "hostfwd=tcp::8080-:80" (the address only when not 127.0.0.1): how the user wrote it, for
/// messages.
std::string describe_forward(HostForward const& forward);

struct StatusReport {
    enum class Kind { Ready, Usage, Host };
    Kind kind = Kind::Ready;
    std::string message;  // empty for Ready
};
/// One line, newline included.
std::string format_status(StatusReport const& report);
/// A line as format_status wrote it (the newline optional); nullopt for anything else.
std::optional<StatusReport> parse_status(std::string_view line);

}  // namespace vmm::netuser
