// SPDX-License-Identifier: Apache-2.0
// NetBackend: where a virtio-net device's frames go and come from (a tap, or a SOCK_SEQPACKET
// socket to the user-mode networking helper). Non-blocking, one frame per call.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>
#include <span>

#include "vmm/base/result.h"

namespace vmm::devices::virtio {

class NetBackend {
public:
    virtual ~NetBackend() = default;

    /// Whether frames in both directions start with a 12-byte virtio_net_hdr_v1 (a tap with
    /// IFF_VNET_HDR): only then may the device offer checksum and segmentation offloads.
    virtual bool vnet_header() const = 0;
    /// Sends one frame gathered from `frame` (with the header when vnet_header()). Returns the
    /// bytes sent, -EAGAIN when the backend cannot take it now (watch fd() for EPOLLOUT), or
    /// another -errno: the frame is lost.
    virtual ssize_t send(std::span<iovec const> frame) = 0;
    /// Receives one frame into `buffer` (with the header when vnet_header()). Returns its
    /// length (a frame longer than the buffer is cut to it), -EAGAIN when none waits, -EPIPE
    /// when the peer is gone for good, or another -errno.
    virtual ssize_t receive(std::span<uint8_t> buffer) = 0;
    /// The fd to watch for EPOLLIN (a frame waits) and EPOLLOUT (send() may go on).
    virtual int fd() const = 0;
    /// The offloads the guest accepts on receive (TUN_F_* from <linux/if_tun.h>): a tap
    /// passes them to TUNSETOFFLOAD. Only called when vnet_header().
    virtual Result<void> set_offloads(unsigned tun_flags) {
        (void)tun_flags;
        return {};
    }
};

}  // namespace vmm::devices::virtio
