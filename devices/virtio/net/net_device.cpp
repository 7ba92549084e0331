// SPDX-License-Identifier: Apache-2.0
// virtio-net: the receiveq (0) takes frames from the backend into the driver's writable chains,
// the transmitq (1) sends the driver's readable chains. Everything the guest wrote is bounded
// and checked before the backend sees it; a bad transmit chain is completed and counted.
#include "devices/virtio/net/net_device.h"

#include <linux/if_tun.h>
#include <linux/virtio_ids.h>
#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace vmm::devices::virtio {

namespace {

constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }

/// Copies `data` into the chain's writable buffers, in order; returns the bytes copied.
uint32_t copy_to_chain(GuestMemory const& memory, DescriptorChain const& chain,
                       std::span<uint8_t const> data) {
    uint32_t copied = 0;
    for (GuestBuffer const& buffer : chain.writable) {
        if (data.empty()) break;
        size_t const count = std::min<size_t>(buffer.length, data.size());
        auto bytes = memory.slice(buffer.address, count);  // the queue checked the range
        if (!bytes) break;
        std::memcpy(bytes->data(), data.data(), count);
        data = data.subspan(count);
        copied += static_cast<uint32_t>(count);
    }
    return copied;
}

/// Copies the first out.size() readable bytes of the chain; false if it has fewer.
bool copy_from_chain(GuestMemory const& memory, DescriptorChain const& chain,
                     std::span<uint8_t> out) {
    for (GuestBuffer const& buffer : chain.readable) {
        if (out.empty()) break;
        size_t const count = std::min<size_t>(buffer.length, out.size());
        if (!memory.read(buffer.address, out.first(count))) return false;
        out = out.subspan(count);
    }
    return out.empty();
}

}  // namespace

NetDevice::NetDevice(std::unique_ptr<NetBackend> backend, NetOptions options)
    : m_backend(std::move(backend)),
      m_options(std::move(options)),
      m_features(bit(net_feature::kMac) | bit(net_feature::kStatus) | bit(net_feature::kMrgRxbuf)),
      m_rx_buffer(kMaxFrame + 1) {
    if (m_options.mtu != 0) m_features |= bit(net_feature::kMtu);
    // Offloads only where the header reaches the backend: without it a partial checksum or a
    // 64 KiB segment could not be described to the other side. No UFO: Linux's tap accepts it
    // only for old guests' sake, and nothing here needs it.
    if (m_backend->vnet_header())
        m_features |= bit(net_feature::kCsum) | bit(net_feature::kGuestCsum) |
                      bit(net_feature::kGuestTso4) | bit(net_feature::kGuestTso6) |
                      bit(net_feature::kHostTso4) | bit(net_feature::kHostTso6);
}

uint32_t NetDevice::device_id() const { return VIRTIO_ID_NET; }

void NetDevice::read_config(uint32_t offset, std::span<uint8_t> data) {
    VirtioNetConfig config{};
    std::ranges::copy(m_options.mac, config.mac);
    config.status = VirtioNetConfig::kLinkUp;
    config.max_virtqueue_pairs = 1;
    config.mtu = m_options.mtu;
    auto const* bytes = reinterpret_cast<uint8_t const*>(&config);
    std::memcpy(data.data(), bytes + offset, data.size());  // the transport checked the range
}

Result<void> NetDevice::activate(uint64_t features, std::span<Queue> queues,
                                 GuestMemory const& memory, VirtioInterrupt& interrupt) {
    m_negotiated = features;
    m_queues = queues;
    m_memory = &memory;
    m_interrupt = &interrupt;
    if (m_backend->vnet_header()) {
        // TUNSETOFFLOAD names what the reader (the guest) accepts: the GUEST_* features.
        // Segmentation needs checksum offload too (the kernel refuses it alone).
        unsigned offloads = 0;
        if (negotiated(net_feature::kGuestCsum)) {
            offloads |= TUN_F_CSUM;
            if (negotiated(net_feature::kGuestTso4)) offloads |= TUN_F_TSO4;
            if (negotiated(net_feature::kGuestTso6)) offloads |= TUN_F_TSO6;
        }
        // On failure the tap keeps delivering whole, checksummed frames: fine for any guest.
        if (auto done = m_backend->set_offloads(offloads); !done && m_offload_logged.first())
            spdlog::warn("virtio-net {}: {}", m_options.name, done.error());
    }
    // Linux fills the receiveq around DRIVER_OK: frames already waiting go in now.
    transmit();
    receive();
    return {};
}

void NetDevice::process_queue(size_t index) {
    if (index == kTransmitQueue) transmit();
    if (index == kReceiveQueue) receive();  // new buffers: the kept frame, then the backend
}

void NetDevice::reset() {
    m_queues = {};
    m_memory = nullptr;
    m_interrupt = nullptr;
    m_negotiated = 0;
    m_rx_chains.clear();
    m_tx_pending.reset();
    m_rx_length = 0;
    if (m_backend->vnet_header()) (void)m_backend->set_offloads(0);
}

std::vector<HostEventSource> NetDevice::host_event_sources() const {
    // Edge-triggered: with no receive buffers the device stops reading, keeps the frame it
    // has, and the fd stays quiet until the receiveq notify resumes it.
    return {{m_backend->fd(), EPOLLIN | EPOLLOUT | EPOLLET}};
}

void NetDevice::process_host_event(size_t, uint32_t) {
    // Not active: the frames wait in the backend; activate() reads them.
    if (!m_memory) return;
    if (m_tx_pending) transmit();
    receive();
}

// --- transmit ---------------------------------------------------------------------------

void NetDevice::transmit() {
    if (!m_memory || kTransmitQueue >= m_queues.size()) return;
    Queue& queue = m_queues[kTransmitQueue];
    bool pushed = false;
    if (m_tx_pending) {
        if (!send_chain(*m_tx_pending)) return;
        queue.push(m_tx_pending->head, 0);
        m_tx_pending.reset();
        pushed = true;
    }
    while (auto chain = queue.pop()) {
        if (!send_chain(*chain)) {
            m_tx_pending = std::move(chain);  // EPOLLOUT (or the next notify) sends it
            break;
        }
        queue.push(chain->head, 0);
        pushed = true;
    }
    if (pushed && queue.should_notify()) m_interrupt->signal_used();
}

std::optional<VirtioNetHeader> NetDevice::check_tx_header(DescriptorChain const& chain) {
    char const* problem = nullptr;
    VirtioNetHeader header{};
    if (!chain.writable.empty()) {
        problem = "a device-writable buffer";
    } else if (chain.readable_bytes < kHeaderSize + kMinFrame) {
        problem = "shorter than the header and an Ethernet header";
    } else if (chain.readable_bytes > kMaxFrame) {
        problem = "longer than 65562 bytes";
    } else if (!copy_from_chain(*m_memory, chain,
                                std::span(reinterpret_cast<uint8_t*>(&header), kHeaderSize))) {
        problem = "an unreadable header";
    } else if ((header.flags & ~VirtioNetHeader::kNeedsCsum) != 0 ||
               ((header.flags & VirtioNetHeader::kNeedsCsum) && !negotiated(net_feature::kCsum))) {
        problem = "header flags that were not negotiated";
    } else if (header.gso_type != VirtioNetHeader::kGsoNone &&
               !(header.gso_type == VirtioNetHeader::kGsoTcpV4 &&
                 negotiated(net_feature::kHostTso4)) &&
               !(header.gso_type == VirtioNetHeader::kGsoTcpV6 &&
                 negotiated(net_feature::kHostTso6))) {
        problem = "a segmentation type that was not negotiated";
    }
    if (!problem) {
        header.num_buffers = 0;
        return header;
    }
    ++m_stats.tx_malformed;
    if (m_tx_malformed_logged.first())
        spdlog::warn("virtio-net {}: transmit chain dropped: {} (counted from now on, not logged)",
                     m_options.name, problem);
    return std::nullopt;
}

bool NetDevice::send_chain(DescriptorChain const& chain) {
    auto header = check_tx_header(chain);
    if (!header) return true;  // completed, counted
    bool const with_header = m_backend->vnet_header();
    m_iovecs.clear();
    // The checked copy goes out, not the guest's bytes, which it may change meanwhile.
    if (with_header) m_iovecs.push_back({&*header, kHeaderSize});
    size_t const first = m_iovecs.size();
    uint32_t skip = kHeaderSize;
    for (GuestBuffer const& buffer : chain.readable) {
        uint32_t const drop = std::min(skip, buffer.length);
        skip -= drop;
        if (drop == buffer.length) continue;
        auto bytes = m_memory->slice(GuestAddress{buffer.address.value + drop},
                                     buffer.length - drop);
        if (!bytes) return true;  // the queue checked it: cannot happen
        m_iovecs.push_back({bytes->data(), bytes->size()});
    }
    uint32_t const frame_bytes = chain.readable_bytes - kHeaderSize;
    if (m_iovecs.size() > kMaxIovecs) {
        // Too many pieces for one writev: one copy.
        m_tx_bounce.resize(frame_bytes);
        size_t offset = 0;
        for (size_t i = first; i < m_iovecs.size(); ++i) {
            std::memcpy(m_tx_bounce.data() + offset, m_iovecs[i].iov_base, m_iovecs[i].iov_len);
            offset += m_iovecs[i].iov_len;
        }
        m_iovecs.resize(first);
        m_iovecs.push_back({m_tx_bounce.data(), frame_bytes});
    }
    ssize_t const sent = m_backend->send(m_iovecs);
    if (sent == -EAGAIN) return false;
    if (sent < 0) {
        ++m_stats.tx_errors;
        if (m_tx_error_logged.first())
            spdlog::warn("virtio-net {}: the backend refused a frame: {} (counted from now on, "
                         "not logged)",
                         m_options.name, std::strerror(static_cast<int>(-sent)));
        return true;
    }
    ++m_stats.tx_frames;
    m_stats.tx_bytes += frame_bytes;
    return true;
}

// --- receive ----------------------------------------------------------------------------

void NetDevice::drop_rx(uint64_t& counter, LogOnce& once, char const* why) {
    ++counter;
    ++m_stats.rx_dropped;
    if (once.first())
        spdlog::warn("virtio-net {}: received frame dropped: {} (counted from now on, not "
                     "logged)",
                     m_options.name, why);
}

bool NetDevice::read_frame() {
    uint32_t const offset = m_backend->vnet_header() ? 0 : kHeaderSize;
    // A frame the buffer cannot hold is dropped; go on until one fits or none is left.
    for (;;) {
        if (m_backend_gone) return false;
        ssize_t const length = m_backend->receive(std::span(m_rx_buffer).subspan(offset));
        if (length == -EAGAIN) return false;
        if (length == -EPIPE) {
            m_backend_gone = true;
            if (m_gone_logged.first())
                spdlog::warn("virtio-net {}: the backend is gone; the link carries nothing "
                             "from now on",
                             m_options.name);
            return false;
        }
        if (length < 0) {
            // Stop here: an error that persists must not spin the loop. The next frame's
            // edge or the next receiveq notify tries again.
            drop_rx(m_stats.rx_errors, m_rx_error_logged, std::strerror(static_cast<int>(-length)));
            return false;
        }
        uint64_t const total = uint64_t(length) + offset;
        if (total > kMaxFrame || total < kHeaderSize + kMinFrame) {
            drop_rx(m_stats.rx_bad_length, m_rx_length_logged,
                    "longer than 65562 bytes with the header, or shorter than Ethernet's");
            continue;
        }
        if (offset != 0) std::memset(m_rx_buffer.data(), 0, kHeaderSize);
        m_rx_length = static_cast<uint32_t>(total);
        return true;
    }
}

bool NetDevice::deliver_frame(bool& pushed) {
    Queue& queue = m_queues[kReceiveQueue];
    bool const mergeable = negotiated(net_feature::kMrgRxbuf);
    uint64_t room = 0;
    for (DescriptorChain const& chain : m_rx_chains) room += chain.writable_bytes;
    while (room < m_rx_length) {
        auto chain = queue.pop();
        if (!chain) return false;  // keep the frame and the chains: the notify resumes
        // The header goes whole into the first chain (§5.1.6.3.1); every chain holds a byte.
        uint32_t const least = m_rx_chains.empty() ? kHeaderSize : 1;
        bool const too_small =
            chain->writable_bytes < least || (!mergeable && chain->writable_bytes < m_rx_length);
        if (too_small) {
            queue.push(chain->head, 0);
            pushed = true;
            ++m_stats.rx_bad_chains;
            if (m_rx_chain_logged.first())
                spdlog::warn("virtio-net {}: receive chain of {} bytes is too small; completed "
                             "empty (counted from now on, not logged)",
                             m_options.name, chain->writable_bytes);
            if (mergeable) continue;
            // Without mergeable buffers the frame had to fit: it is lost.
            ++m_stats.rx_dropped;
            m_rx_length = 0;
            return true;
        }
        room += chain->writable_bytes;
        m_rx_chains.push_back(std::move(*chain));
    }
    auto const count = static_cast<uint16_t>(m_rx_chains.size());  // at most the queue size
    std::memcpy(m_rx_buffer.data() + offsetof(VirtioNetHeader, num_buffers), &count, sizeof count);
    auto frame = std::span<uint8_t const>(m_rx_buffer).first(m_rx_length);
    for (DescriptorChain const& chain : m_rx_chains) {
        uint32_t const written =
            copy_to_chain(*m_memory, chain, frame.first(std::min<size_t>(frame.size(),
                                                                         chain.writable_bytes)));
        frame = frame.subspan(written);
        queue.push(chain.head, written);
    }
    pushed = true;
    ++m_stats.rx_frames;
    m_stats.rx_bytes += m_rx_length - kHeaderSize;
    m_rx_chains.clear();
    m_rx_length = 0;
    return true;
}

void NetDevice::receive() {
    if (!m_memory || kReceiveQueue >= m_queues.size()) return;
    bool pushed = false;
    for (;;) {
        if (m_rx_length == 0 && !read_frame()) break;
        if (!deliver_frame(pushed)) break;
    }
    Queue& queue = m_queues[kReceiveQueue];
    if (pushed && queue.should_notify()) m_interrupt->signal_used();
}

}  // namespace vmm::devices::virtio
