// SPDX-License-Identifier: Apache-2.0
// SlirpStack: one libslirp instance whose guest side is a SOCK_SEQPACKET socket (one Ethernet
// frame per message), served by its own poll loop with libslirp's timers.
#pragma once

#include <poll.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "vmm/base/result.h"
#include "vmm/base/unique_fd.h"
#include "vmm/machine_config.h"

struct Slirp;  // <slirp/libslirp.h>

namespace vmm::netuser {

/// The guest network (QEMU's defaults, which guests and users know): 10.0.2.0/24, the guest
/// gets 10.0.2.15 by DHCP, the gateway (the host) is 10.0.2.2, DNS 10.0.2.3 forwards to the
/// host's resolver. IPv6: fec0::/64, gateway fec0::2, DNS fec0::3.
struct StackOptions {
    uint16_t mtu = 0;  // 0: libslirp's default (1500)
    bool ipv6 = true;
};

/// What the stack dropped; a hostile guest moves these, never the helper's health.
struct StackCounters {
    uint64_t frames_in = 0;       // from the guest, handed to libslirp
    uint64_t frames_out = 0;      // to the guest
    uint64_t runts = 0;           // from the guest, shorter than kMinFrame: dropped
    uint64_t oversized = 0;       // from the guest, longer than kMaxFrame: dropped
    uint64_t out_dropped = 0;     // to the guest, dropped because wisp's socket was full
    uint64_t guest_errors = 0;    // malformed packets libslirp reported (guest_error)
};

class SlirpStack {
public:
    /// Takes the frame socket. Fails (Host) if libslirp does not start.
    static Result<std::unique_ptr<SlirpStack>> create(UniqueFd socket, StackOptions const& options);
    ~SlirpStack();
    SlirpStack(SlirpStack const&) = delete;
    SlirpStack& operator=(SlirpStack const&) = delete;

    /// Listens on the forward's host address and port. A Usage error names the port and the
    /// hostfwd= it came from ("host port 8080 is already in use: ...").
    Result<void> add_forward(HostForward const& forward);

    /// Moves frames until wisp closes the socket (Ok) or the socket fails (Host).
    Result<void> run();

    StackCounters const& counters() const { return m_counters; }

private:
    struct Timer {  // one of libslirp's timers
        void (*callback)(void*);
        void* callback_opaque;
        int64_t expire_ms = -1;  // on clock_get_ns's clock; -1: not armed
    };
    explicit SlirpStack(UniqueFd socket) : m_socket(std::move(socket)) {}

    friend struct SlirpCallbacks;  // libslirp's callbacks (SlirpCb), in the .cpp

    /// Reads up to a batch of frames; false once wisp has closed the socket.
    bool read_frames();
    /// Runs the due timers; returns the ms until the next one (-1: none).
    int64_t run_timers();

    UniqueFd m_socket;
    Slirp* m_slirp = nullptr;
    std::vector<std::unique_ptr<Timer>> m_timers;
    std::vector<pollfd> m_pollfds;  // [0] is the frame socket, then libslirp's
    std::vector<uint8_t> m_frame;
    StackCounters m_counters;
    bool m_socket_failed = false;
    int m_socket_errno = 0;
};

}  // namespace vmm::netuser
