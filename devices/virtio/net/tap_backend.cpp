// SPDX-License-Identifier: Apache-2.0
// Tap backend.
#include "devices/virtio/net/tap_backend.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vmm::devices::virtio {

namespace {
constexpr int kVnetHeaderSize = 12;  // sizeof(struct virtio_net_hdr_v1)
}

Result<TapBackend> TapBackend::open(std::string const& name) {
    if (name.empty() || name.size() >= IFNAMSIZ)
        return fail(ErrorKind::Usage,
                    fmt::format("tap name '{}' must be 1 to {} characters", name, IFNAMSIZ - 1));
    int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int const code = errno;
        if (code == ENOENT || code == ENODEV || code == ENXIO)
            return fail(ErrorKind::Usage,
                        fmt::format("--net tap={}: this host has no /dev/net/tun: load the tun "
                                    "module (modprobe tun)",
                                    name));
        return std::unexpected(Error::from_errno(
            fmt::format("--net tap={}: cannot open /dev/net/tun (it must be readable and "
                        "writable by this user)",
                        name),
            code, ErrorKind::Usage));
    }
    UniqueFd tun(fd);
    bool const existed = ::if_nametoindex(name.c_str()) != 0;
    ifreq request{};
    std::memcpy(request.ifr_name, name.data(), name.size());
    request.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (::ioctl(tun.get(), TUNSETIFF, &request) < 0) {
        int const code = errno;
        std::string const create = fmt::format(
            "create it first with 'ip tuntap add dev {} mode tap user $(id -un)'", name);
        switch (code) {
            case EPERM:
                if (existed)
                    return fail(ErrorKind::Usage,
                                fmt::format("--net tap={}: the tap exists but this user may not "
                                            "attach to it: give it to this user ('ip tuntap add "
                                            "dev {} mode tap user $(id -un)' when creating it)",
                                            name, name));
                return fail(ErrorKind::Usage,
                            fmt::format("--net tap={}: there is no such tap and wisp may not "
                                        "create one (that needs CAP_NET_ADMIN): {}",
                                        name, create));
            case EINVAL:
                return fail(ErrorKind::Usage,
                            fmt::format("--net tap={}: '{}' is not a single-queue tap device "
                                        "(a tun device, a multi-queue tap or another kind of "
                                        "interface): name a tap, or {}",
                                        name, name, create));
            case EBUSY:
                return fail(ErrorKind::Usage,
                            fmt::format("--net tap={}: the tap is in use by another process", name));
            default:
                return std::unexpected(Error::from_errno(
                    fmt::format("--net tap={}: TUNSETIFF", name), code, ErrorKind::Usage));
        }
    }
    int header_size = kVnetHeaderSize;
    if (::ioctl(tun.get(), TUNSETVNETHDRSZ, &header_size) < 0)
        return fail_errno(fmt::format("--net tap={}: TUNSETVNETHDRSZ", name), errno);
    TapBackend backend(std::move(tun), std::string(request.ifr_name));
    TRY(backend.set_offloads(0));
    return backend;
}

ssize_t TapBackend::send(std::span<iovec const> frame) {
    ssize_t const sent = ::writev(m_fd.get(), frame.data(), static_cast<int>(frame.size()));
    return sent < 0 ? -errno : sent;
}

ssize_t TapBackend::receive(std::span<uint8_t> buffer) {
    ssize_t const length = ::read(m_fd.get(), buffer.data(), buffer.size());
    if (length < 0) return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    return length;
}

Result<void> TapBackend::set_offloads(unsigned tun_flags) {
    if (::ioctl(m_fd.get(), TUNSETOFFLOAD, static_cast<unsigned long>(tun_flags)) < 0)
        return fail_errno(fmt::format("tap {}: TUNSETOFFLOAD {:#x}", m_name, tun_flags), errno);
    return {};
}

}  // namespace vmm::devices::virtio
