// SPDX-License-Identifier: Apache-2.0
// virtio-net: header and config layout, features with and without a vnet-header backend,
// receive into mergeable buffers (and the frame kept while there are none), transmit gather,
// hostile chains counted with the device living on, and the SOCK_SEQPACKET backend.
#include <catch2/catch.hpp>

#include <linux/if_tun.h>
#include <linux/virtio_ids.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <utility>
#include <vector>

#include "devices/virtio/net/net_device.h"
#include "devices/virtio/net/seqpacket_backend.h"
#include "tests/support/mock_split_queue.h"
#include "vmm/base/size.h"

using namespace vmm;
using namespace vmm::devices::virtio;
using vmm::test::CountingInterrupt;
using vmm::test::MockSplitQueue;

namespace {

constexpr uint64_t kData = 0x20000;
constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }
constexpr uint64_t kVersion1 = uint64_t{1} << 32;

using Bytes = std::vector<uint8_t>;

/// A backend in memory: frames to hand the device, frames it sent, and what to answer.
struct FakeState {
    std::deque<Bytes> incoming;     // receive() hands these out, then -EAGAIN
    std::vector<Bytes> sent;
    ssize_t send_result = 0;        // 0: succeed; else returned (-EAGAIN, -EIO, ...)
    ssize_t receive_error = 0;      // returned once instead of a frame when set
    unsigned offloads = ~0u;
    int receive_calls = 0;
};

class FakeBackend final : public NetBackend {
public:
    FakeBackend(std::shared_ptr<FakeState> state, bool vnet) : m_state(std::move(state)), m_vnet(vnet) {}
    bool vnet_header() const override { return m_vnet; }
    ssize_t send(std::span<iovec const> frame) override {
        if (m_state->send_result != 0) return m_state->send_result;
        Bytes bytes;
        for (iovec const& io : frame) {
            auto const* p = static_cast<uint8_t const*>(io.iov_base);
            bytes.insert(bytes.end(), p, p + io.iov_len);
        }
        m_state->sent.push_back(bytes);
        return static_cast<ssize_t>(bytes.size());
    }
    ssize_t receive(std::span<uint8_t> buffer) override {
        ++m_state->receive_calls;
        if (m_state->receive_error != 0) return std::exchange(m_state->receive_error, 0);
        if (m_state->incoming.empty()) return -EAGAIN;
        Bytes frame = std::move(m_state->incoming.front());
        m_state->incoming.pop_front();
        size_t const length = std::min(frame.size(), buffer.size());
        std::memcpy(buffer.data(), frame.data(), length);
        return static_cast<ssize_t>(length);
    }
    int fd() const override { return 42; }
    Result<void> set_offloads(unsigned flags) override {
        m_state->offloads = flags;
        return {};
    }

private:
    std::shared_ptr<FakeState> m_state;
    bool m_vnet;
};

GuestMemory make_memory() {
    std::array<GuestMemory::RegionSpec, 1> const layout{{{GuestAddress{0}, 2_MiB}}};
    auto memory = GuestMemory::create(layout);
    REQUIRE(memory.has_value());
    return std::move(*memory);
}

Bytes pattern(size_t length, uint8_t seed = 1) {
    Bytes bytes(length);
    for (size_t i = 0; i < length; ++i) bytes[i] = static_cast<uint8_t>(seed + i * 7);
    return bytes;
}

Bytes with_header(VirtioNetHeader header, Bytes const& frame) {
    Bytes bytes(sizeof header);
    std::memcpy(bytes.data(), &header, sizeof header);
    bytes.insert(bytes.end(), frame.begin(), frame.end());
    return bytes;
}

struct NetFixture {
    GuestMemory memory = make_memory();
    MockSplitQueue rx{memory, NetDevice::kQueueSize, 0x1000};
    MockSplitQueue tx{memory, NetDevice::kQueueSize, 0x8000};
    std::array<Queue, 2> queues;
    CountingInterrupt interrupt;
    std::shared_ptr<FakeState> state = std::make_shared<FakeState>();
    NetDevice net;

    explicit NetFixture(bool vnet, uint64_t features = bit(net_feature::kMrgRxbuf),
                        bool activated = true)
        : net(std::make_unique<FakeBackend>(state, vnet),
              NetOptions{{0x52, 0x54, 0, 1, 2, 3}, 0, "test"}) {
        auto receive = Queue::create(memory, rx.config(), NetDevice::kQueueSize, 0);
        auto transmit = Queue::create(memory, tx.config(), NetDevice::kQueueSize, 0);
        REQUIRE(receive.has_value());
        REQUIRE(transmit.has_value());
        queues[0] = std::move(*receive);
        queues[1] = std::move(*transmit);
        if (activated) activate(features);
    }
    void activate(uint64_t features) {
        REQUIRE(net.activate(features | kVersion1, queues, memory, interrupt).has_value());
    }
    void put(uint64_t address, Bytes const& bytes) {
        REQUIRE(memory.write(GuestAddress{address}, bytes).has_value());
    }
    Bytes get(uint64_t address, size_t length) {
        Bytes bytes(length);
        REQUIRE(memory.read(GuestAddress{address}, bytes).has_value());
        return bytes;
    }
    /// One receive chain of one buffer of `length` bytes at kData + 0x10000 * slot.
    void post_receive(uint16_t slot, uint32_t length) {
        rx.write_chain(slot, {{kData + 0x10000ull * slot, length, true}});
        rx.publish(slot);
    }
    VirtioNetHeader header_at(uint64_t address) {
        return rx.read<VirtioNetHeader>(address);
    }
    /// A transmit chain: the header and the frame, split into buffers of the given sizes.
    void post_transmit(uint16_t first, VirtioNetHeader header, Bytes const& frame,
                       std::vector<uint32_t> const& pieces) {
        Bytes const all = with_header(header, frame);
        std::vector<MockSplitQueue::Buffer> buffers;
        uint64_t address = kData + 0x100000 + 0x4000ull * first;
        size_t offset = 0;
        for (uint32_t piece : pieces) {
            put(address, Bytes(all.begin() + static_cast<ptrdiff_t>(offset),
                               all.begin() + static_cast<ptrdiff_t>(offset + piece)));
            buffers.push_back({address, piece});
            address += piece + 64;
            offset += piece;
        }
        REQUIRE(offset == all.size());
        tx.write_chain(first, buffers);
        tx.publish(first);
    }
};

}  // namespace

TEST_CASE("virtio-net: the header and config layouts are the guest ABI", "[virtio][net]") {
    CHECK(sizeof(VirtioNetHeader) == 12);
    CHECK(offsetof(VirtioNetHeader, gso_type) == 1);
    CHECK(offsetof(VirtioNetHeader, hdr_len) == 2);
    CHECK(offsetof(VirtioNetHeader, gso_size) == 4);
    CHECK(offsetof(VirtioNetHeader, csum_start) == 6);
    CHECK(offsetof(VirtioNetHeader, csum_offset) == 8);
    CHECK(offsetof(VirtioNetHeader, num_buffers) == 10);
    CHECK(sizeof(VirtioNetConfig) == 12);
    CHECK(offsetof(VirtioNetConfig, status) == 6);
    CHECK(offsetof(VirtioNetConfig, max_virtqueue_pairs) == 8);
    CHECK(offsetof(VirtioNetConfig, mtu) == 10);
}

TEST_CASE("virtio-net: identity, queues and config space", "[virtio][net]") {
    auto state = std::make_shared<FakeState>();
    NetDevice net(std::make_unique<FakeBackend>(state, false),
                  NetOptions{{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}, 9000, "t"});
    CHECK(net.device_id() == VIRTIO_ID_NET);
    REQUIRE(net.queue_max_sizes().size() == 2);
    CHECK(net.config_size() == 12);
    std::array<uint8_t, 12> config{};
    net.read_config(0, config);
    CHECK(config[0] == 0x02);
    CHECK(config[5] == 0x55);
    CHECK((config[6] | config[7] << 8) == VirtioNetConfig::kLinkUp);
    CHECK((config[8] | config[9] << 8) == 1);
    CHECK((config[10] | config[11] << 8) == 9000);
    std::array<uint8_t, 2> mtu{};
    net.read_config(10, mtu);
    CHECK((mtu[0] | mtu[1] << 8) == 9000);
    CHECK(net.features() & bit(net_feature::kMtu));
}

TEST_CASE("virtio-net: offloads are offered only with a vnet-header backend", "[virtio][net]") {
    uint64_t const offloads = bit(net_feature::kCsum) | bit(net_feature::kGuestCsum) |
                              bit(net_feature::kHostTso4) | bit(net_feature::kHostTso6) |
                              bit(net_feature::kGuestTso4) | bit(net_feature::kGuestTso6);
    uint64_t const base =
        bit(net_feature::kMac) | bit(net_feature::kStatus) | bit(net_feature::kMrgRxbuf);
    auto state = std::make_shared<FakeState>();
    NetDevice plain(std::make_unique<FakeBackend>(state, false), NetOptions{{2}, 0, "p"});
    CHECK(plain.features() == base);  // no MTU either: none configured
    NetDevice tap(std::make_unique<FakeBackend>(state, true), NetOptions{{2}, 0, "t"});
    CHECK(tap.features() == (base | offloads));
    CHECK((tap.features() & (bit(net_feature::kHostUfo) | bit(net_feature::kGuestUfo))) == 0);
}

TEST_CASE("virtio-net: negotiated receive offloads reach the tap, and reset clears them",
          "[virtio][net]") {
    SECTION("checksum and TSO") {
        NetFixture f(true, bit(net_feature::kGuestCsum) | bit(net_feature::kGuestTso4) |
                               bit(net_feature::kGuestTso6));
        CHECK(f.state->offloads == (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6));
        f.net.reset();
        CHECK(f.state->offloads == 0);
    }
    SECTION("TSO without checksum offload is not passed on") {
        NetFixture f(true, bit(net_feature::kGuestTso4));
        CHECK(f.state->offloads == 0);
    }
    SECTION("host offloads only") {
        NetFixture f(true, bit(net_feature::kCsum) | bit(net_feature::kHostTso4));
        CHECK(f.state->offloads == 0);
    }
}

TEST_CASE("virtio-net: a frame spreads over several mergeable chains with num_buffers",
          "[virtio][net]") {
    NetFixture f(false);
    Bytes const frame = pattern(3000);
    f.post_receive(0, 1024);
    f.post_receive(1, 1024);
    f.post_receive(2, 1024);
    f.post_receive(3, 1024);
    f.state->incoming.push_back(frame);
    f.net.process_host_event(0, EPOLLIN);
    REQUIRE(f.rx.used_idx() == 3);
    CHECK(f.rx.used(0).id == 0);
    CHECK(f.rx.used(0).len == 1024);
    CHECK(f.rx.used(1).len == 1024);
    CHECK(f.rx.used(2).len == 3012 - 2048);
    auto const header = f.header_at(kData);
    CHECK(header.num_buffers == 3);
    CHECK(header.flags == 0);
    CHECK(header.gso_type == 0);
    Bytes got = f.get(kData + 12, 1012);
    Bytes more = f.get(kData + 0x10000, 1024);
    got.insert(got.end(), more.begin(), more.end());
    more = f.get(kData + 0x20000, 964);
    got.insert(got.end(), more.begin(), more.end());
    CHECK(got == frame);
    CHECK(f.interrupt.used == 1);
    CHECK(f.net.stats().rx_frames == 1);
    CHECK(f.net.stats().rx_bytes == 3000);
    // The fourth chain is still there for the next frame.
    f.state->incoming.push_back(pattern(60, 9));
    f.net.process_host_event(0, EPOLLIN);
    REQUIRE(f.rx.used_idx() == 4);
    CHECK(f.rx.used(3).id == 3);
    CHECK(f.rx.used(3).len == 72);
    CHECK(f.header_at(kData + 0x30000).num_buffers == 1);
}

TEST_CASE("virtio-net: with no receive buffers the frame is kept, then delivered on notify",
          "[virtio][net]") {
    NetFixture f(false);
    f.state->incoming.push_back(pattern(100, 3));
    f.state->incoming.push_back(pattern(200, 4));
    f.net.process_host_event(0, EPOLLIN);
    CHECK(f.net.receive_pending());
    CHECK(f.state->incoming.size() == 1);  // one read, then the device stopped reading
    f.net.process_host_event(0, EPOLLIN);  // a spurious event reads nothing more
    CHECK(f.state->incoming.size() == 1);
    CHECK(f.rx.used_idx() == 0);
    CHECK(f.net.stats().rx_dropped == 0);
    // Part of a frame's room is not enough: the chain taken is kept with the frame.
    f.post_receive(0, 64);
    f.net.process_queue(NetDevice::kReceiveQueue);
    CHECK(f.rx.used_idx() == 0);
    CHECK(f.net.receive_pending());
    f.post_receive(1, 2048);
    f.net.process_queue(NetDevice::kReceiveQueue);
    REQUIRE(f.rx.used_idx() == 2);  // the first frame in two chains
    CHECK(f.header_at(kData).num_buffers == 2);
    CHECK(f.rx.used(0).len == 64);
    CHECK(f.rx.used(1).id == 1);
    CHECK(f.rx.used(1).len == 112 - 64);
    Bytes got = f.get(kData + 12, 52);
    Bytes rest = f.get(kData + 0x10000, 48);
    got.insert(got.end(), rest.begin(), rest.end());
    CHECK(got == pattern(100, 3));
    CHECK(f.net.receive_pending());  // the second frame, read next, waits
    CHECK(f.state->incoming.empty());
    f.post_receive(2, 2048);
    f.net.process_queue(NetDevice::kReceiveQueue);
    REQUIRE(f.rx.used_idx() == 3);
    CHECK(f.rx.used(2).id == 2);
    CHECK(f.rx.used(2).len == 212);
    CHECK(f.get(kData + 0x20000 + 12, 200) == pattern(200, 4));
    CHECK_FALSE(f.net.receive_pending());
    CHECK(f.net.stats().rx_frames == 2);
    CHECK(f.net.stats().rx_dropped == 0);
}

TEST_CASE("virtio-net: the tap's header reaches the guest, with num_buffers set",
          "[virtio][net]") {
    NetFixture f(true, bit(net_feature::kMrgRxbuf) | bit(net_feature::kGuestCsum));
    VirtioNetHeader header{.flags = VirtioNetHeader::kNeedsCsum, .csum_start = 34,
                           .csum_offset = 16, .num_buffers = 0x7777};
    f.state->incoming.push_back(with_header(header, pattern(80)));
    f.post_receive(0, 1500);
    f.net.process_host_event(0, EPOLLIN);
    REQUIRE(f.rx.used_idx() == 1);
    CHECK(f.rx.used(0).len == 92);
    auto const got = f.header_at(kData);
    CHECK(got.flags == VirtioNetHeader::kNeedsCsum);
    CHECK(got.csum_start == 34);
    CHECK(got.csum_offset == 16);
    CHECK(got.num_buffers == 1);
    CHECK(f.get(kData + 12, 80) == pattern(80));
}

TEST_CASE("virtio-net: without mergeable buffers a frame needs one chain big enough",
          "[virtio][net]") {
    NetFixture f(false, 0);
    f.post_receive(0, 100);   // too small for 12 + 200: completed empty, the frame is lost
    f.post_receive(1, 4096);
    f.state->incoming.push_back(pattern(200));
    f.state->incoming.push_back(pattern(300, 5));
    f.net.process_host_event(0, EPOLLIN);
    REQUIRE(f.rx.used_idx() == 2);
    CHECK(f.rx.used(0).len == 0);
    CHECK(f.rx.used(1).id == 1);
    CHECK(f.rx.used(1).len == 312);
    CHECK(f.header_at(kData + 0x10000).num_buffers == 1);
    CHECK(f.get(kData + 0x10000 + 12, 300) == pattern(300, 5));
    CHECK(f.net.stats().rx_bad_chains == 1);
    CHECK(f.net.stats().rx_dropped == 1);
    CHECK(f.net.stats().rx_frames == 1);
}

TEST_CASE("virtio-net: hostile receive chains are completed empty and skipped",
          "[virtio][net]") {
    NetFixture f(false);
    f.post_receive(0, 8);  // smaller than the header
    f.rx.write_chain(1, {{kData + 0x10000, 64}});  // readable only: no room at all
    f.rx.publish(1);
    f.post_receive(2, 2048);
    f.state->incoming.push_back(pattern(100));
    f.net.process_host_event(0, EPOLLIN);
    REQUIRE(f.rx.used_idx() == 3);
    CHECK(f.rx.used(0).len == 0);
    CHECK(f.rx.used(1).len == 0);
    CHECK(f.rx.used(2).id == 2);
    CHECK(f.rx.used(2).len == 112);
    CHECK(f.net.stats().rx_bad_chains == 2);
    CHECK(f.net.stats().rx_frames == 1);
    CHECK(f.net.stats().rx_dropped == 0);
}

TEST_CASE("virtio-net: frames from the backend of a bad length are dropped and counted",
          "[virtio][net]") {
    NetFixture f(false);
    f.post_receive(0, 2048);
    f.state->incoming.push_back(Bytes(NetDevice::kMaxFrame));  // + 12 is over the limit
    f.state->incoming.push_back(Bytes(10));                    // no Ethernet header
    f.state->incoming.push_back(pattern(64));
    f.net.process_host_event(0, EPOLLIN);
    REQUIRE(f.rx.used_idx() == 1);
    CHECK(f.rx.used(0).len == 76);
    CHECK(f.net.stats().rx_bad_length == 2);
    CHECK(f.net.stats().rx_dropped == 2);
    // A receive error is counted and reading stops until the next event.
    f.state->receive_error = -EIO;
    f.state->incoming.push_back(pattern(64));
    f.net.process_host_event(0, EPOLLIN);
    CHECK(f.net.stats().rx_errors == 1);
    CHECK(f.state->incoming.size() == 1);
    f.post_receive(1, 2048);
    f.net.process_queue(NetDevice::kReceiveQueue);
    CHECK(f.rx.used_idx() == 2);
}

TEST_CASE("virtio-net: the largest frame fits, across many chains", "[virtio][net]") {
    NetFixture f(true, bit(net_feature::kMrgRxbuf));
    for (uint16_t slot = 0; slot < 20; ++slot) f.post_receive(slot, 4096);
    Bytes const frame = pattern(NetDevice::kMaxFrame - 12);
    f.state->incoming.push_back(with_header({}, frame));
    f.net.process_host_event(0, EPOLLIN);
    REQUIRE(f.rx.used_idx() == 17);  // 65562 bytes in 4096-byte chains
    CHECK(f.header_at(kData).num_buffers == 17);
    CHECK(f.rx.used(16).len == NetDevice::kMaxFrame - 16 * 4096);
    CHECK(f.net.stats().rx_frames == 1);
}

TEST_CASE("virtio-net: transmit gathers a frame across descriptors", "[virtio][net]") {
    Bytes const frame = pattern(1000, 11);
    SECTION("a socket backend gets the frame without the header") {
        NetFixture f(false);
        f.post_transmit(0, {}, frame, {5, 7, 500, 500});  // the header itself is split
        f.net.process_queue(NetDevice::kTransmitQueue);
        REQUIRE(f.state->sent.size() == 1);
        CHECK(f.state->sent[0] == frame);
        REQUIRE(f.tx.used_idx() == 1);
        CHECK(f.tx.used(0).len == 0);
        CHECK(f.interrupt.used == 1);
        CHECK(f.net.stats().tx_frames == 1);
        CHECK(f.net.stats().tx_bytes == 1000);
    }
    SECTION("a tap gets the negotiated header") {
        NetFixture f(true, bit(net_feature::kCsum) | bit(net_feature::kHostTso4));
        VirtioNetHeader header{.flags = VirtioNetHeader::kNeedsCsum,
                               .gso_type = VirtioNetHeader::kGsoTcpV4, .hdr_len = 54,
                               .gso_size = 1448, .csum_start = 34, .csum_offset = 16,
                               .num_buffers = 5};
        f.post_transmit(0, header, frame, {12, 1000});
        f.net.process_queue(NetDevice::kTransmitQueue);
        REQUIRE(f.state->sent.size() == 1);
        header.num_buffers = 0;  // meaningless on transmit: the device sends 0
        CHECK(f.state->sent[0] == with_header(header, frame));
    }
}

TEST_CASE("virtio-net: hostile transmit chains are completed, counted, and the device goes on",
          "[virtio][net]") {
    NetFixture f(true, bit(net_feature::kCsum));
    Bytes const frame = pattern(100);
    uint16_t next = 0;
    auto expect_dropped = [&](uint64_t malformed) {
        f.net.process_queue(NetDevice::kTransmitQueue);
        CHECK(f.state->sent.empty());
        CHECK(f.tx.used_idx() == next);
        CHECK(f.tx.used(static_cast<uint16_t>(next - 1)).len == 0);
        CHECK(f.net.stats().tx_malformed == malformed);
    };
    SECTION("over the frame limit") {
        f.tx.write_chain(0, {{kData, 12}, {kData + 0x1000, NetDevice::kMaxFrame}});
        f.tx.publish(0);
        next = 1;
        expect_dropped(1);
    }
    SECTION("a device-writable descriptor") {
        f.tx.write_chain(0, {{kData, 112}, {kData + 0x1000, 64, true}});
        f.tx.publish(0);
        next = 1;
        expect_dropped(1);
    }
    SECTION("shorter than the header and an Ethernet header") {
        f.tx.write_chain(0, {{kData, 20}});
        f.tx.publish(0);
        next = 1;
        expect_dropped(1);
    }
    SECTION("segmentation that was not negotiated") {
        f.post_transmit(0, {.gso_type = VirtioNetHeader::kGsoTcpV6}, frame, {112});
        next = 1;
        expect_dropped(1);
    }
    SECTION("UDP fragmentation offload and ECN are never offered") {
        f.post_transmit(0, {.gso_type = VirtioNetHeader::kGsoUdp}, frame, {112});
        f.post_transmit(1, {.gso_type = VirtioNetHeader::kGsoEcn}, frame, {112});
        next = 2;
        expect_dropped(2);
    }
    SECTION("unknown header flags") {
        f.post_transmit(0, {.flags = 0x40}, frame, {112});
        next = 1;
        expect_dropped(1);
    }
    SECTION("a looping chain (the queue's own check)") {
        f.tx.set_desc(0, {kData, 112, kDescNext, 0});
        f.tx.publish(0);
        f.net.process_queue(NetDevice::kTransmitQueue);
        CHECK(f.tx.used_idx() == 1);
        next = 1;
    }
    // The device lives on: a good frame after the bad one goes out.
    f.post_transmit(next + 2, {}, frame, {112});
    f.net.process_queue(NetDevice::kTransmitQueue);
    REQUIRE(f.state->sent.size() == 1);
    CHECK(f.state->sent[0] == with_header({}, frame));
    CHECK(f.net.stats().tx_frames == 1);
}

TEST_CASE("virtio-net: checksum offload without CSUM is refused", "[virtio][net]") {
    NetFixture f(false);  // a socket backend: no CSUM offered or negotiated
    f.post_transmit(0, {.flags = VirtioNetHeader::kNeedsCsum}, pattern(100), {112});
    f.net.process_queue(NetDevice::kTransmitQueue);
    CHECK(f.state->sent.empty());
    CHECK(f.net.stats().tx_malformed == 1);
}

TEST_CASE("virtio-net: a busy backend keeps the transmit chain until it can write",
          "[virtio][net]") {
    NetFixture f(false);
    f.state->send_result = -EAGAIN;
    f.post_transmit(0, {}, pattern(100), {112});
    f.post_transmit(1, {}, pattern(100, 2), {112});
    f.net.process_queue(NetDevice::kTransmitQueue);
    CHECK(f.tx.used_idx() == 0);
    CHECK(f.net.stats().tx_errors == 0);
    f.state->send_result = 0;
    f.net.process_host_event(0, EPOLLOUT);
    REQUIRE(f.state->sent.size() == 2);
    CHECK(f.state->sent[0] == pattern(100));
    CHECK(f.state->sent[1] == pattern(100, 2));
    CHECK(f.tx.used_idx() == 2);
}

TEST_CASE("virtio-net: a backend error loses the frame, counted, and the device goes on",
          "[virtio][net]") {
    NetFixture f(false);
    f.state->send_result = -EIO;
    f.post_transmit(0, {}, pattern(100), {112});
    f.net.process_queue(NetDevice::kTransmitQueue);
    CHECK(f.tx.used_idx() == 1);
    CHECK(f.net.stats().tx_errors == 1);
    f.state->send_result = 0;
    f.post_transmit(1, {}, pattern(100), {112});
    f.net.process_queue(NetDevice::kTransmitQueue);
    CHECK(f.state->sent.size() == 1);
}

TEST_CASE("virtio-net: before DRIVER_OK nothing is read; activation takes waiting frames",
          "[virtio][net]") {
    NetFixture f(false, 0, false);
    f.state->incoming.push_back(pattern(64));
    f.net.process_host_event(0, EPOLLIN);
    CHECK(f.state->receive_calls == 0);
    f.post_receive(0, 2048);
    f.activate(bit(net_feature::kMrgRxbuf));
    CHECK(f.rx.used_idx() == 1);
    CHECK(f.rx.used(0).len == 76);
    // After reset the device touches nothing of the guest's.
    f.net.reset();
    f.state->incoming.push_back(pattern(64));
    f.net.process_host_event(0, EPOLLIN);
    CHECK(f.state->incoming.size() == 1);
}

TEST_CASE("virtio-net: the host event source is the backend's fd, edge-triggered",
          "[virtio][net]") {
    NetFixture f(false);
    auto const sources = f.net.host_event_sources();
    REQUIRE(sources.size() == 1);
    CHECK(sources[0].fd == 42);
    CHECK((sources[0].events & EPOLLET) != 0);
    CHECK((sources[0].events & EPOLLIN) != 0);
    CHECK((sources[0].events & EPOLLOUT) != 0);
}

TEST_CASE("SeqpacketBackend: one frame per message over a socketpair", "[virtio][net]") {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) == 0);
    UniqueFd peer(fds[1]);
    auto backend = SeqpacketBackend::create(UniqueFd(fds[0]));
    REQUIRE(backend.has_value());
    CHECK_FALSE(backend->vnet_header());
    Bytes buffer(2048);
    CHECK(backend->receive(buffer) == -EAGAIN);

    Bytes const a = pattern(10), b = pattern(20, 3);
    std::array<iovec, 2> pieces{{{const_cast<uint8_t*>(a.data()), a.size()},
                                 {const_cast<uint8_t*>(b.data()), b.size()}}};
    CHECK(backend->send(pieces) == 30);
    Bytes got(100);
    REQUIRE(::recv(peer.get(), got.data(), got.size(), 0) == 30);
    Bytes joined = a;
    joined.insert(joined.end(), b.begin(), b.end());
    CHECK(Bytes(got.begin(), got.begin() + 30) == joined);

    Bytes const first = pattern(60), second = pattern(1500, 9);
    REQUIRE(::send(peer.get(), first.data(), first.size(), 0) == 60);
    REQUIRE(::send(peer.get(), second.data(), second.size(), 0) == 1500);
    CHECK(backend->receive(buffer) == 60);  // message boundaries hold
    CHECK(Bytes(buffer.begin(), buffer.begin() + 60) == first);
    CHECK(backend->receive(buffer) == 1500);
    CHECK(Bytes(buffer.begin(), buffer.begin() + 1500) == second);
    CHECK(backend->receive(buffer) == -EAGAIN);

    peer.reset();
    CHECK(backend->receive(buffer) == -EPIPE);
    CHECK(backend->send(pieces) < 0);
}

TEST_CASE("SeqpacketBackend: frames reach the guest without a header from the helper",
          "[virtio][net]") {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) == 0);
    UniqueFd peer(fds[1]);
    auto backend = SeqpacketBackend::create(UniqueFd(fds[0]));
    REQUIRE(backend.has_value());
    GuestMemory memory = make_memory();
    MockSplitQueue rx{memory, NetDevice::kQueueSize, 0x1000};
    MockSplitQueue tx{memory, NetDevice::kQueueSize, 0x8000};
    std::array<Queue, 2> queues{*Queue::create(memory, rx.config(), NetDevice::kQueueSize, 0),
                                *Queue::create(memory, tx.config(), NetDevice::kQueueSize, 0)};
    CountingInterrupt interrupt;
    NetDevice net(std::make_unique<SeqpacketBackend>(std::move(*backend)),
                  NetOptions{{2, 0, 0, 0, 0, 1}, 0, "user"});
    REQUIRE(net.activate(kVersion1 | bit(net_feature::kMrgRxbuf), queues, memory, interrupt)
                .has_value());
    Bytes const frame = pattern(600, 5);
    REQUIRE(::send(peer.get(), frame.data(), frame.size(), 0) == 600);
    rx.write_chain(0, {{kData, 2048, true}});
    rx.publish(0);
    net.process_host_event(0, EPOLLIN);
    REQUIRE(rx.used_idx() == 1);
    CHECK(rx.used(0).len == 612);
    auto const header = rx.read<VirtioNetHeader>(kData);
    CHECK(header.num_buffers == 1);
    CHECK(header.flags == 0);
    Bytes got(600);
    REQUIRE(memory.read(GuestAddress{kData + 12}, got).has_value());
    CHECK(got == frame);

    // And back: the guest's frame reaches the helper without the header.
    Bytes const out = with_header({}, pattern(70, 8));
    REQUIRE(memory.write(GuestAddress{kData + 0x4000}, out).has_value());
    tx.write_chain(0, {{kData + 0x4000, static_cast<uint32_t>(out.size())}});
    tx.publish(0);
    net.process_queue(NetDevice::kTransmitQueue);
    Bytes received(200);
    REQUIRE(::recv(peer.get(), received.data(), received.size(), MSG_DONTWAIT) == 70);
    CHECK(Bytes(received.begin(), received.begin() + 70) == pattern(70, 8));

    // The helper goes away: logged once, nothing more read, the device lives.
    peer.reset();
    net.process_host_event(0, EPOLLIN | EPOLLHUP);
    net.process_host_event(0, EPOLLIN | EPOLLHUP);
    CHECK(net.stats().rx_errors == 0);
}
