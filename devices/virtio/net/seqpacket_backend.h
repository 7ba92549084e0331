// SPDX-License-Identifier: Apache-2.0
// SeqpacketBackend: Ethernet frames over a connected SOCK_SEQPACKET socket, one frame per
// message, no virtio-net header (the wisp-net-user helper's end is the peer, vmm/user_net.h).
#pragma once

#include "devices/virtio/net/net_backend.h"
#include "vmm/base/unique_fd.h"

namespace vmm::devices::virtio {

class SeqpacketBackend final : public NetBackend {
public:
    /// Takes the socket and makes it non-blocking.
    static Result<SeqpacketBackend> create(UniqueFd socket);

    bool vnet_header() const override { return false; }
    ssize_t send(std::span<iovec const> frame) override;
    ssize_t receive(std::span<uint8_t> buffer) override;
    int fd() const override { return m_socket.get(); }

private:
    explicit SeqpacketBackend(UniqueFd socket) : m_socket(std::move(socket)) {}
    UniqueFd m_socket;
};

}  // namespace vmm::devices::virtio
