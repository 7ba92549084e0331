// SPDX-License-Identifier: Apache-2.0
// TapBackend: a Linux tap interface (/dev/net/tun, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) with a
// 12-byte virtio-net header on every frame, non-blocking.
#pragma once

#include <string>

#include "devices/virtio/net/net_backend.h"
#include "vmm/base/unique_fd.h"

namespace vmm::devices::virtio {

class TapBackend final : public NetBackend {
public:
    /// Attaches to the tap `name`: an existing one this user may use, or a new one when the
    /// process has CAP_NET_ADMIN (gone again when wisp exits). Every refusal (no such tap and
    /// no right to create it, no permission, not a tap, busy, no /dev/net/tun) is a Usage
    /// error that says what to do.
    static Result<TapBackend> open(std::string const& name);

    bool vnet_header() const override { return true; }
    ssize_t send(std::span<iovec const> frame) override;
    ssize_t receive(std::span<uint8_t> buffer) override;
    int fd() const override { return m_fd.get(); }
    Result<void> set_offloads(unsigned tun_flags) override;
    std::string const& name() const { return m_name; }

private:
    TapBackend(UniqueFd fd, std::string name) : m_fd(std::move(fd)), m_name(std::move(name)) {}
    UniqueFd m_fd;
    std::string m_name;
};

}  // namespace vmm::devices::virtio
