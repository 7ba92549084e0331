// SPDX-License-Identifier: Apache-2.0
// NetDevice: virtio-net (virtio 1.2 §5.1) with one receive and one transmit queue in front of
// a NetBackend (a tap, or the user-mode networking helper's socket). Receive uses mergeable
// buffers; checksum and segmentation offloads are offered only when the backend carries the
// virtio-net header (a tap), and then handed to it (TUNSETOFFLOAD).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "devices/virtio/net/net_backend.h"
#include "devices/virtio/virtio_device.h"
#include "vmm/base/log.h"

namespace vmm::devices::virtio {

/// Feature bits (§5.1.3). <linux/virtio_net.h> does not compile as C++ (a member named
/// `class`), so these are ours.
namespace net_feature {
inline constexpr unsigned kCsum = 0;        // VIRTIO_NET_F_CSUM: the device takes partial checksums
inline constexpr unsigned kGuestCsum = 1;   // VIRTIO_NET_F_GUEST_CSUM
inline constexpr unsigned kMtu = 3;         // VIRTIO_NET_F_MTU
inline constexpr unsigned kMac = 5;         // VIRTIO_NET_F_MAC
inline constexpr unsigned kGuestTso4 = 7;   // VIRTIO_NET_F_GUEST_TSO4
inline constexpr unsigned kGuestTso6 = 8;   // VIRTIO_NET_F_GUEST_TSO6
inline constexpr unsigned kGuestUfo = 10;   // VIRTIO_NET_F_GUEST_UFO (never offered)
inline constexpr unsigned kHostTso4 = 11;   // VIRTIO_NET_F_HOST_TSO4
inline constexpr unsigned kHostTso6 = 12;   // VIRTIO_NET_F_HOST_TSO6
inline constexpr unsigned kHostUfo = 14;    // VIRTIO_NET_F_HOST_UFO (never offered)
inline constexpr unsigned kMrgRxbuf = 15;   // VIRTIO_NET_F_MRG_RXBUF
inline constexpr unsigned kStatus = 16;     // VIRTIO_NET_F_STATUS
}  // namespace net_feature

/// struct virtio_net_hdr_v1 (§5.1.6): in front of every frame on both queues. Ours, because
/// the field layout is the guest ABI and <linux/virtio_net.h> is not C++.
struct VirtioNetHeader {
    static constexpr uint8_t kNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
    static constexpr uint8_t kDataValid = 2;  // VIRTIO_NET_HDR_F_DATA_VALID (receive only)
    static constexpr uint8_t kGsoNone = 0;    // VIRTIO_NET_HDR_GSO_NONE
    static constexpr uint8_t kGsoTcpV4 = 1;   // VIRTIO_NET_HDR_GSO_TCPV4
    static constexpr uint8_t kGsoUdp = 3;     // VIRTIO_NET_HDR_GSO_UDP
    static constexpr uint8_t kGsoTcpV6 = 4;   // VIRTIO_NET_HDR_GSO_TCPV6
    static constexpr uint8_t kGsoEcn = 0x80;  // VIRTIO_NET_HDR_GSO_ECN

    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers;  // receive: how many chains this frame fills (mergeable buffers)
};
static_assert(sizeof(VirtioNetHeader) == 12 && alignof(VirtioNetHeader) == 2);
static_assert(offsetof(VirtioNetHeader, flags) == 0 && offsetof(VirtioNetHeader, gso_type) == 1);
static_assert(offsetof(VirtioNetHeader, hdr_len) == 2 && offsetof(VirtioNetHeader, gso_size) == 4);
static_assert(offsetof(VirtioNetHeader, csum_start) == 6);
static_assert(offsetof(VirtioNetHeader, csum_offset) == 8);
static_assert(offsetof(VirtioNetHeader, num_buffers) == 10);

/// struct virtio_net_config (§5.1.4) up to mtu: all the fields our features use.
struct VirtioNetConfig {
    static constexpr uint16_t kLinkUp = 1;  // VIRTIO_NET_S_LINK_UP
    uint8_t mac[6];
    uint16_t status;
    uint16_t max_virtqueue_pairs;
    uint16_t mtu;
};
static_assert(sizeof(VirtioNetConfig) == 12);
static_assert(offsetof(VirtioNetConfig, status) == 6);
static_assert(offsetof(VirtioNetConfig, max_virtqueue_pairs) == 8);
static_assert(offsetof(VirtioNetConfig, mtu) == 10);

struct NetOptions {
    std::array<uint8_t, 6> mac{};
    uint16_t mtu = 0;   // 0: VIRTIO_NET_F_MTU not offered
    std::string name;   // for the log: "tap0", "user"
};

/// What the device dropped and why; read under the transport's lock (or in tests).
struct NetStats {
    uint64_t tx_frames = 0;
    uint64_t tx_bytes = 0;      // frame bytes, without the header
    uint64_t tx_malformed = 0;  // bad chains, too short or too long, offloads not negotiated
    uint64_t tx_errors = 0;     // the backend refused or lost the frame
    uint64_t rx_frames = 0;
    uint64_t rx_bytes = 0;      // frame bytes, without the header
    uint64_t rx_bad_length = 0; // from the backend: longer than kMaxFrame or shorter than Ethernet
    uint64_t rx_errors = 0;     // the backend failed to receive
    uint64_t rx_bad_chains = 0; // guest receive chains too small to use (completed empty)
    uint64_t rx_dropped = 0;    // frames that did not reach the guest, for whichever reason
};

class NetDevice final : public VirtioDevice {
public:
    static constexpr uint16_t kQueueSize = 256;
    static constexpr size_t kReceiveQueue = 0;
    static constexpr size_t kTransmitQueue = 1;
    static constexpr uint32_t kHeaderSize = sizeof(VirtioNetHeader);
    /// The largest frame either way, header included: a 64 KiB TSO/GSO frame (65535 bytes of
    /// IP, 14 of Ethernet, 1 spare) and the header. Anything longer is dropped and counted.
    static constexpr uint32_t kMaxFrame = 65562;
    static constexpr uint32_t kMinFrame = 14;  // an Ethernet header, without the virtio header
    /// Gathering more buffers than this (up to IOV_MAX with the header) copies the frame.
    static constexpr size_t kMaxIovecs = 1000;

    NetDevice(std::unique_ptr<NetBackend> backend, NetOptions options);

    uint32_t device_id() const override;
    uint64_t features() const override { return m_features; }
    std::span<uint16_t const> queue_max_sizes() const override { return kQueueSizes; }
    uint32_t config_size() const override { return sizeof(VirtioNetConfig); }
    void read_config(uint32_t offset, std::span<uint8_t> data) override;

    Result<void> activate(uint64_t features, std::span<Queue> queues, GuestMemory const& memory,
                          VirtioInterrupt& interrupt) override;
    void process_queue(size_t index) override;
    void reset() override;
    /// The backend's fd, edge-triggered for input and output: the device reads until EAGAIN
    /// or until the guest has no receive buffers, keeping the frame it read meanwhile.
    std::vector<HostEventSource> host_event_sources() const override;
    void process_host_event(size_t index, uint32_t events) override;

    NetStats const& stats() const { return m_stats; }
    /// A frame read from the backend waits for receive buffers.
    bool receive_pending() const { return m_rx_length != 0; }
    NetBackend& backend() { return *m_backend; }

private:
    static constexpr std::array<uint16_t, 2> kQueueSizes{kQueueSize, kQueueSize};
    bool negotiated(unsigned bit) const { return (m_negotiated >> bit) & 1; }
    void transmit();
    /// Sends one chain; false when the backend would block (the chain is kept).
    bool send_chain(DescriptorChain const& chain);
    std::optional<VirtioNetHeader> check_tx_header(DescriptorChain const& chain);
    void receive();
    /// Reads one frame from the backend into m_rx_buffer; false when there is none (or the
    /// backend is gone).
    bool read_frame();
    /// Puts the pending frame into the guest's chains; false when there are too few (the frame
    /// and the chains taken so far are kept).
    bool deliver_frame(bool& pushed);
    void drop_rx(uint64_t& counter, LogOnce& once, char const* why);

    std::unique_ptr<NetBackend> m_backend;
    NetOptions m_options;
    uint64_t m_features;
    uint64_t m_negotiated = 0;

    std::span<Queue> m_queues;
    GuestMemory const* m_memory = nullptr;
    VirtioInterrupt* m_interrupt = nullptr;
    bool m_backend_gone = false;

    std::vector<uint8_t> m_rx_buffer;           // kMaxFrame + 1: a longer read is oversize
    uint32_t m_rx_length = 0;                   // pending frame, header included; 0: none
    std::vector<DescriptorChain> m_rx_chains;   // taken for the pending frame (mergeable)
    std::optional<DescriptorChain> m_tx_pending;  // the backend said EAGAIN for it
    std::vector<iovec> m_iovecs;
    std::vector<uint8_t> m_tx_bounce;

    NetStats m_stats;
    LogOnce m_tx_malformed_logged;
    LogOnce m_tx_error_logged;
    LogOnce m_rx_length_logged;
    LogOnce m_rx_error_logged;
    LogOnce m_rx_chain_logged;
    LogOnce m_gone_logged;
    LogOnce m_offload_logged;
};

}  // namespace vmm::devices::virtio
