// SPDX-License-Identifier: Apache-2.0
// virtio-blk: every request type against a real file through both engines (sync and io_uring),
// the checks that turn a malformed or out-of-range request into an error status, host I/O
// failures injected through a mock backend (sync) and a result filter (io_uring), requests in
// flight (the bound, reset waiting for them), opening and locking images, and --disk parsing.
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <memory>
#include <thread>
#include <variant>
#include <vector>

#include "devices/virtio/block/block_device.h"
#include "devices/virtio/block/disk_image.h"
#include "devices/virtio/block/sync_backend.h"
#include "devices/virtio/block/uring_engine.h"
#include "tests/support/mock_split_queue.h"
#include "tests/support/temp_file.h"
#include "vmm/base/size.h"
#include "vmm/base/unique_fd.h"
#include "vmm/cli.h"
#include "vmm/virtio_setup.h"

using namespace vmm;
using namespace vmm::devices::virtio;
using vmm::test::CountingInterrupt;
using vmm::test::MockSplitQueue;
using vmm::test::read_file;
using vmm::test::TempDir;

namespace {

constexpr uint64_t kHeader = 0x10000;
constexpr uint64_t kStatus = 0x10100;
constexpr uint64_t kData = 0x20000;
constexpr uint32_t kSector = BlockDevice::kSectorSize;

/// An image in memory whose next operation can be made to fail with an errno.
class MockBackend final : public BlockBackend {
public:
    explicit MockBackend(uint64_t size) : data(size) {}
    uint64_t size() const override { return data.size(); }
    Result<void, int> read(uint64_t offset, std::span<iovec const> iov) override {
        TRY(injected());
        for (iovec const& piece : iov) {
            std::memcpy(piece.iov_base, data.data() + offset, piece.iov_len);
            offset += piece.iov_len;
        }
        return {};
    }
    Result<void, int> write(uint64_t offset, std::span<iovec const> iov) override {
        TRY(injected());
        for (iovec const& piece : iov) {
            std::memcpy(data.data() + offset, piece.iov_base, piece.iov_len);
            offset += piece.iov_len;
        }
        return {};
    }
    Result<void, int> flush() override { return injected(); }
    Result<void, int> discard(uint64_t, uint64_t) override { return injected(); }
    Result<void, int> write_zeroes(uint64_t offset, uint64_t length, bool) override {
        TRY(injected());
        std::fill_n(data.begin() + static_cast<ptrdiff_t>(offset), length, uint8_t{0});
        return {};
    }

    std::vector<uint8_t> data;
    int fail_next = 0;  // errno for the next operation, 0: succeed

private:
    Result<void, int> injected() {
        if (int const code = std::exchange(fail_next, 0)) return std::unexpected(code);
        return {};
    }
};

GuestMemory make_memory() {
    std::array<GuestMemory::RegionSpec, 1> const layout{{{GuestAddress{0}, 1_MiB}}};
    auto memory = GuestMemory::create(layout);
    REQUIRE(memory.has_value());
    return std::move(*memory);
}

std::unique_ptr<BlockBackend> file_backend(std::string const& path, bool read_only) {
    auto image = open_disk_image(path, read_only);
    REQUIRE(image.has_value());
    return std::make_unique<SyncBackend>(std::move(*image));
}

enum class Engine { Sync, IoUring };

std::unique_ptr<UringEngine> uring_engine(std::string const& path, bool read_only) {
    auto image = open_disk_image(path, read_only);
    REQUIRE(image.has_value());
    auto engine = UringEngine::create(std::move(*image), BlockDevice::kQueueSize);
    if (!engine) FAIL("io_uring is needed by these tests: " << engine.error().message());
    return std::move(*engine);
}

/// The image at path behind either engine: the tests below run against both.
std::unique_ptr<BlockEngine> file_engine(std::string const& path, bool read_only, Engine kind) {
    if (kind == Engine::IoUring) return uring_engine(path, read_only);
    return std::make_unique<SyncEngine>(file_backend(path, read_only));
}

struct Reply {
    uint32_t used_len;
    uint8_t status;  // 0xff: not written
};

struct BlkFixture {
    GuestMemory memory = make_memory();
    MockSplitQueue mock{memory, BlockDevice::kQueueSize};
    std::array<Queue, 1> queues;
    CountingInterrupt interrupt;
    BlockDevice device;
    uint16_t completed = 0;

    BlkFixture(std::unique_ptr<BlockBackend> backend, bool read_only = false, std::string id = {})
        : BlkFixture(std::make_unique<SyncEngine>(std::move(backend)), read_only, std::move(id)) {}
    BlkFixture(std::unique_ptr<BlockEngine> engine, bool read_only = false, std::string id = {})
        : device(std::move(engine), {"test.img", read_only, std::move(id)}) {
        auto queue = Queue::create(memory, mock.config(), BlockDevice::kQueueSize, 0);
        REQUIRE(queue.has_value());
        queues[0] = std::move(*queue);
        REQUIRE(device.activate(0, queues, memory, interrupt).has_value());
    }

    void header(uint32_t type, uint64_t sector) const {
        mock.write(kHeader, BlockRequestHeader{type, 0, sector});
    }
    /// Publishes one chain, lets the device process it and returns what came back. The status
    /// is read from the last writable byte (preset to 0xff).
    Reply submit(std::vector<MockSplitQueue::Buffer> const& buffers) {
        auto last_writable = std::ranges::find_if(buffers.rbegin(), buffers.rend(),
                                                  [](auto const& b) { return b.writable; });
        uint64_t status_at = kStatus;
        if (last_writable != buffers.rend())
            status_at = last_writable->address + last_writable->length - 1;
        mock.write<uint8_t>(status_at, 0xff);
        mock.publish(mock.write_chain(0, buffers));
        device.process_queue(0);
        settle();
        REQUIRE(mock.used_idx() == ++completed);
        return {mock.used(static_cast<uint16_t>(completed - 1)).len, mock.read<uint8_t>(status_at)};
    }
    /// Serves the engine's eventfd, as the event loop would, until nothing is in flight.
    void settle() {
        auto const sources = device.host_event_sources();
        while (device.in_flight() > 0) {
            REQUIRE(sources.size() == 1);
            pollfd ready{sources[0].fd, POLLIN, 0};
            REQUIRE(::poll(&ready, 1, 10'000) == 1);
            device.process_host_event(0, EPOLLIN);
        }
    }
    /// The usual framing: header, one data buffer (if length), status.
    Reply request(uint32_t type, uint64_t sector, uint32_t length, bool data_writable) {
        header(type, sector);
        std::vector<MockSplitQueue::Buffer> buffers{{kHeader, 16}};
        if (length) buffers.push_back({kData, length, data_writable});
        buffers.push_back({kStatus, 1, true});
        return submit(buffers);
    }
    Reply read(uint64_t sector, uint32_t length) {
        return request(VIRTIO_BLK_T_IN, sector, length, true);
    }
    Reply write(uint64_t sector, std::vector<uint8_t> const& bytes) {
        REQUIRE(memory.write(GuestAddress{kData}, bytes).has_value());
        return request(VIRTIO_BLK_T_OUT, sector, static_cast<uint32_t>(bytes.size()), false);
    }
    Reply ranges(uint32_t type, std::vector<BlockRangeSegment> const& segments) {
        header(type, 0);
        for (size_t i = 0; i < segments.size(); ++i) mock.write(kData + 16 * i, segments[i]);
        return submit({{kHeader, 16},
                       {kData, static_cast<uint32_t>(16 * segments.size())},
                       {kStatus, 1, true}});
    }
    std::vector<uint8_t> guest_bytes(uint64_t address, size_t length) const {
        std::vector<uint8_t> bytes(length);
        REQUIRE(memory.read(GuestAddress{address}, bytes).has_value());
        return bytes;
    }
};

/// A 64 KiB image of pseudo-random bytes.
struct ImageFile {
    TempDir dir;
    std::vector<uint8_t> contents = vmm::test::random_bytes(64 * 1024, 7);
    std::string path = dir.write("disk.img", contents);
};

std::vector<uint8_t> slice(std::vector<uint8_t> const& bytes, size_t offset, size_t length) {
    return {bytes.begin() + static_cast<ptrdiff_t>(offset),
            bytes.begin() + static_cast<ptrdiff_t>(offset + length)};
}

bool all_zero(std::vector<uint8_t> const& bytes) {
    return std::ranges::all_of(bytes, [](uint8_t b) { return b == 0; });
}

}  // namespace

TEST_CASE("virtio-blk: identity, features and config space", "[virtio][blk]") {
    TempDir dir;
    auto path = dir.write("odd.img", std::vector<uint8_t>(8 * kSector + 100, 1));
    BlockDevice device(file_backend(path, false), {path, false, ""});
    CHECK(device.device_id() == VIRTIO_ID_BLOCK);
    REQUIRE(device.queue_max_sizes().size() == 1);
    uint64_t const features = device.features();
    for (uint32_t bit : {VIRTIO_BLK_F_SIZE_MAX, VIRTIO_BLK_F_SEG_MAX, VIRTIO_BLK_F_BLK_SIZE,
                         VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_DISCARD, VIRTIO_BLK_F_WRITE_ZEROES})
        CHECK((features & (uint64_t{1} << bit)) != 0);
    CHECK((features & (uint64_t{1} << VIRTIO_BLK_F_RO)) == 0);
    CHECK(device.capacity() == 8);  // the partial last sector is left out

    REQUIRE(device.config_size() == sizeof(BlockConfig));
    BlockConfig config{};
    device.read_config(0, std::span(reinterpret_cast<uint8_t*>(&config), sizeof config));
    CHECK(config.capacity == 8);
    CHECK(config.blk_size == 512);
    CHECK(config.seg_max == BlockDevice::kSegMax);
    CHECK(config.size_max == BlockDevice::kSizeMax);
    CHECK(config.max_discard_sectors == BlockDevice::kMaxDiscardSectors);
    CHECK(config.max_discard_seg == BlockDevice::kMaxDiscardSegments);
    CHECK(config.max_write_zeroes_sectors == BlockDevice::kMaxWriteZeroesSectors);
    CHECK(config.max_write_zeroes_seg == 1);
    CHECK(config.write_zeroes_may_unmap == 1);
    std::array<uint8_t, 4> blk_size{};
    device.read_config(20, blk_size);  // a driver reads fields one at a time
    CHECK(blk_size == std::array<uint8_t, 4>{0, 2, 0, 0});

    auto other = dir.write("other.img", std::vector<uint8_t>(kSector, 1));
    BlockDevice read_only(file_backend(other, true), {other, true, ""});
    CHECK((read_only.features() & (uint64_t{1} << VIRTIO_BLK_F_RO)) != 0);
}

TEST_CASE("virtio-blk: OUT writes guest data to the file, IN reads it back", "[virtio][blk]") {
    Engine const engine = GENERATE(Engine::Sync, Engine::IoUring);
    ImageFile image;
    BlkFixture f(file_engine(image.path, false, engine));
    auto const data = vmm::test::random_bytes(2 * kSector, 99);
    Reply w = f.write(3, data);
    CHECK(w.status == VIRTIO_BLK_S_OK);
    CHECK(w.used_len == 1);  // only the status byte is written for OUT
    auto file = read_file(image.path);
    CHECK(slice(file, 3 * kSector, 2 * kSector) == data);
    CHECK(slice(file, 0, 3 * kSector) == slice(image.contents, 0, 3 * kSector));
    CHECK(slice(file, 5 * kSector, kSector) == slice(image.contents, 5 * kSector, kSector));

    REQUIRE(f.memory.write(GuestAddress{kData}, std::vector<uint8_t>(4 * kSector)).has_value());
    Reply r = f.read(2, 4 * kSector);
    CHECK(r.status == VIRTIO_BLK_S_OK);
    CHECK(r.used_len == 4 * kSector + 1);
    CHECK(f.guest_bytes(kData, 4 * kSector) == slice(file, 2 * kSector, 4 * kSector));
    CHECK(f.interrupt.used == 2);
}

TEST_CASE("virtio-blk: requests framed differently (split data, shared descriptors) work",
          "[virtio][blk]") {
    Engine const engine = GENERATE(Engine::Sync, Engine::IoUring);
    ImageFile image;
    BlkFixture f(file_engine(image.path, false, engine));
    // IN: data in two buffers, the second also holding the status byte.
    f.header(VIRTIO_BLK_T_IN, 1);
    Reply r = f.submit({{kHeader, 16}, {kData, 300, true}, {kData + 0x1000, 212 + 1, true}});
    CHECK(r.status == VIRTIO_BLK_S_OK);
    CHECK(r.used_len == kSector + 1);
    auto joined = f.guest_bytes(kData, 300);
    auto second = f.guest_bytes(kData + 0x1000, 212);
    joined.insert(joined.end(), second.begin(), second.end());
    CHECK(joined == slice(image.contents, kSector, kSector));
    // OUT: header and data in one readable buffer.
    f.mock.write(kData, BlockRequestHeader{VIRTIO_BLK_T_OUT, 0, 6});
    auto const data = vmm::test::random_bytes(kSector, 5);
    REQUIRE(f.memory.write(GuestAddress{kData + 16}, data).has_value());
    Reply w = f.submit({{kData, 16 + kSector}, {kStatus, 1, true}});
    CHECK(w.status == VIRTIO_BLK_S_OK);
    CHECK(slice(read_file(image.path), 6 * kSector, kSector) == data);
}

TEST_CASE("virtio-blk: FLUSH and zero-length requests complete", "[virtio][blk]") {
    Engine const engine = GENERATE(Engine::Sync, Engine::IoUring);
    ImageFile image;
    BlkFixture f(file_engine(image.path, false, engine));
    Reply flush = f.request(VIRTIO_BLK_T_FLUSH, 0, 0, false);
    CHECK(flush.status == VIRTIO_BLK_S_OK);
    CHECK(flush.used_len == 1);
    Reply empty = f.read(0, 0);
    CHECK(empty.status == VIRTIO_BLK_S_OK);
    CHECK(empty.used_len == 1);
}

TEST_CASE("virtio-blk: GET_ID answers the id= value, zero padded to 20 bytes", "[virtio][blk]") {
    Engine const engine = GENERATE(Engine::Sync, Engine::IoUring);
    ImageFile image;
    SECTION("with an id") {
        BlkFixture f(file_engine(image.path, false, engine), false, "root-disk");
        REQUIRE(f.memory.write(GuestAddress{kData}, std::vector<uint8_t>(20, 0xee)).has_value());
        Reply r = f.request(VIRTIO_BLK_T_GET_ID, 0, 20, true);
        CHECK(r.status == VIRTIO_BLK_S_OK);
        CHECK(r.used_len == 21);
        std::vector<uint8_t> expected(20, 0);
        std::memcpy(expected.data(), "root-disk", 9);
        CHECK(f.guest_bytes(kData, 20) == expected);
    }
    SECTION("without one: 20 zero bytes") {
        BlkFixture f(file_engine(image.path, false, engine));
        REQUIRE(f.memory.write(GuestAddress{kData}, std::vector<uint8_t>(20, 0xee)).has_value());
        Reply r = f.request(VIRTIO_BLK_T_GET_ID, 0, 20, true);
        CHECK(r.status == VIRTIO_BLK_S_OK);
        CHECK(all_zero(f.guest_bytes(kData, 20)));
    }
}

TEST_CASE("virtio-blk: DISCARD and WRITE_ZEROES read back as zeroes", "[virtio][blk]") {
    Engine const engine = GENERATE(Engine::Sync, Engine::IoUring);
    ImageFile image;
    BlkFixture f(file_engine(image.path, false, engine));
    Reply d = f.ranges(VIRTIO_BLK_T_DISCARD, {{8, 8, 0}, {40, 16, 0}});
    CHECK(d.status == VIRTIO_BLK_S_OK);
    Reply z = f.ranges(VIRTIO_BLK_T_WRITE_ZEROES, {{1, 3, 0}});
    CHECK(z.status == VIRTIO_BLK_S_OK);
    Reply u = f.ranges(VIRTIO_BLK_T_WRITE_ZEROES, {{100, 4, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP}});
    CHECK(u.status == VIRTIO_BLK_S_OK);
    auto file = read_file(image.path);
    REQUIRE(file.size() == image.contents.size());  // KEEP_SIZE
    CHECK(all_zero(slice(file, 8 * kSector, 8 * kSector)));
    CHECK(all_zero(slice(file, 40 * kSector, 16 * kSector)));
    CHECK(all_zero(slice(file, 1 * kSector, 3 * kSector)));
    CHECK(all_zero(slice(file, 100 * kSector, 4 * kSector)));
    CHECK(slice(file, 0, kSector) == slice(image.contents, 0, kSector));
    CHECK(slice(file, 4 * kSector, 4 * kSector) == slice(image.contents, 4 * kSector, 4 * kSector));
    CHECK(slice(file, 16 * kSector, 24 * kSector) ==
          slice(image.contents, 16 * kSector, 24 * kSector));
    CHECK(slice(file, 104 * kSector, 24 * kSector) ==
          slice(image.contents, 104 * kSector, 24 * kSector));
}

TEST_CASE("virtio-blk: bad DISCARD / WRITE_ZEROES segments are refused before any change",
          "[virtio][blk]") {
    Engine const engine = GENERATE(Engine::Sync, Engine::IoUring);
    ImageFile image;
    BlkFixture f(file_engine(image.path, false, engine));
    uint64_t const capacity = f.device.capacity();
    // Past the capacity, also where sector + count overflows; the good first segment is not
    // applied either.
    CHECK(f.ranges(VIRTIO_BLK_T_DISCARD, {{0, 8, 0}, {capacity - 1, 2, 0}}).status ==
          VIRTIO_BLK_S_IOERR);
    CHECK(f.ranges(VIRTIO_BLK_T_WRITE_ZEROES, {{std::numeric_limits<uint64_t>::max(), 2, 0}})
              .status == VIRTIO_BLK_S_IOERR);
    // Flags: unmap on a discard, an unknown bit anywhere.
    CHECK(f.ranges(VIRTIO_BLK_T_DISCARD, {{0, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP}}).status ==
          VIRTIO_BLK_S_UNSUPP);
    CHECK(f.ranges(VIRTIO_BLK_T_WRITE_ZEROES, {{0, 8, 0x2}}).status == VIRTIO_BLK_S_UNSUPP);
    // More segments than max_write_zeroes_seg; no segment at all; a partial segment.
    CHECK(f.ranges(VIRTIO_BLK_T_WRITE_ZEROES, {{0, 1, 0}, {2, 1, 0}}).status == VIRTIO_BLK_S_IOERR);
    CHECK(f.ranges(VIRTIO_BLK_T_DISCARD, {}).status == VIRTIO_BLK_S_IOERR);
    f.header(VIRTIO_BLK_T_DISCARD, 0);
    CHECK(f.submit({{kHeader, 16}, {kData, 12}, {kStatus, 1, true}}).status == VIRTIO_BLK_S_IOERR);
    CHECK(read_file(image.path) == image.contents);
}

TEST_CASE("virtio-blk: a read-only disk refuses writes and leaves the file unchanged",
          "[virtio][blk]") {
    Engine const engine = GENERATE(Engine::Sync, Engine::IoUring);
    ImageFile image;
    BlkFixture f(file_engine(image.path, true, engine), true);
    Reply w = f.write(0, vmm::test::random_bytes(kSector, 3));
    CHECK(w.status == VIRTIO_BLK_S_IOERR);
    CHECK(w.used_len == 1);
    CHECK(f.ranges(VIRTIO_BLK_T_DISCARD, {{0, 8, 0}}).status == VIRTIO_BLK_S_IOERR);
    CHECK(f.ranges(VIRTIO_BLK_T_WRITE_ZEROES, {{0, 8, 0}}).status == VIRTIO_BLK_S_IOERR);
    CHECK(read_file(image.path) == image.contents);
    Reply r = f.read(0, kSector);  // reads and flushes still work
    CHECK(r.status == VIRTIO_BLK_S_OK);
    CHECK(f.guest_bytes(kData, kSector) == slice(image.contents, 0, kSector));
    CHECK(f.request(VIRTIO_BLK_T_FLUSH, 0, 0, false).status == VIRTIO_BLK_S_OK);
}

TEST_CASE("virtio-blk: requests past the capacity or with overflowing ranges are IOERR",
          "[virtio][blk]") {
    Engine const engine = GENERATE(Engine::Sync, Engine::IoUring);
    ImageFile image;
    BlkFixture f(file_engine(image.path, false, engine));
    uint64_t const capacity = f.device.capacity();
    REQUIRE(capacity == 128);
    CHECK(f.read(capacity - 1, kSector).status == VIRTIO_BLK_S_OK);  // the last sector
    CHECK(f.read(capacity, kSector).status == VIRTIO_BLK_S_IOERR);
    CHECK(f.read(capacity - 1, 2 * kSector).status == VIRTIO_BLK_S_IOERR);
    CHECK(f.read(std::numeric_limits<uint64_t>::max(), kSector).status == VIRTIO_BLK_S_IOERR);
    // sector * 512 would wrap to a small offset.
    CHECK(f.write(uint64_t{1} << 55, std::vector<uint8_t>(kSector, 1)).status ==
          VIRTIO_BLK_S_IOERR);
    CHECK(f.write(std::numeric_limits<uint64_t>::max() - 1, std::vector<uint8_t>(2 * kSector))
              .status == VIRTIO_BLK_S_IOERR);
    CHECK(read_file(image.path) == image.contents);
}

TEST_CASE("virtio-blk: data that is not whole sectors is IOERR", "[virtio][blk]") {
    Engine const engine = GENERATE(Engine::Sync, Engine::IoUring);
    ImageFile image;
    BlkFixture f(file_engine(image.path, false, engine));
    CHECK(f.read(0, 100).status == VIRTIO_BLK_S_IOERR);
    CHECK(f.write(0, std::vector<uint8_t>(kSector + 1, 1)).status == VIRTIO_BLK_S_IOERR);
    CHECK(read_file(image.path) == image.contents);
}

TEST_CASE("virtio-blk: a header in a writable buffer or too short is IOERR", "[virtio][blk]") {
    Engine const engine = GENERATE(Engine::Sync, Engine::IoUring);
    ImageFile image;
    BlkFixture f(file_engine(image.path, false, engine));
    f.header(VIRTIO_BLK_T_OUT, 0);
    Reply writable = f.submit({{kHeader, 16, true}, {kData, kSector, true}, {kStatus, 1, true}});
    CHECK(writable.status == VIRTIO_BLK_S_IOERR);
    CHECK(writable.used_len == 1);
    f.header(VIRTIO_BLK_T_IN, 0);
    Reply short_header = f.submit({{kHeader, 8}, {kData, kSector, true}, {kStatus, 1, true}});
    CHECK(short_header.status == VIRTIO_BLK_S_IOERR);
    CHECK(read_file(image.path) == image.contents);
}

TEST_CASE("virtio-blk: a request without a writable status byte comes back untouched",
          "[virtio][blk]") {
    Engine const engine = GENERATE(Engine::Sync, Engine::IoUring);
    ImageFile image;
    BlkFixture f(file_engine(image.path, false, engine));
    REQUIRE(f.memory.write(GuestAddress{kData}, std::vector<uint8_t>(kSector, 0x42)).has_value());
    SECTION("status in a read-only buffer") {
        f.header(VIRTIO_BLK_T_OUT, 0);
        Reply r = f.submit({{kHeader, 16}, {kData, kSector}, {kStatus, 1}});
        CHECK(r.used_len == 0);
        CHECK(r.status == 0xff);
    }
    SECTION("no status at all") {
        f.header(VIRTIO_BLK_T_OUT, 0);
        Reply r = f.submit({{kHeader, 16}, {kData, kSector}});
        CHECK(r.used_len == 0);
    }
    CHECK(read_file(image.path) == image.contents);
    CHECK(f.read(0, kSector).status == VIRTIO_BLK_S_OK);  // the device goes on
}

TEST_CASE("virtio-blk: an unknown request type is UNSUPP", "[virtio][blk]") {
    Engine const engine = GENERATE(Engine::Sync, Engine::IoUring);
    ImageFile image;
    BlkFixture f(file_engine(image.path, false, engine));
    Reply r = f.request(99, 0, kSector, true);
    CHECK(r.status == VIRTIO_BLK_S_UNSUPP);
    CHECK(r.used_len == 1);
}

TEST_CASE("virtio-blk: a host read error (EIO) is IOERR, and the next request works",
          "[virtio][blk][fault]") {
    auto backend = std::make_unique<MockBackend>(64 * kSector);
    MockBackend& mock = *backend;
    std::ranges::fill(mock.data, uint8_t{0x5a});
    BlkFixture f(std::move(backend));
    mock.fail_next = EIO;
    Reply bad = f.read(0, kSector);
    CHECK(bad.status == VIRTIO_BLK_S_IOERR);
    CHECK(bad.used_len == 1);
    Reply good = f.read(0, kSector);
    CHECK(good.status == VIRTIO_BLK_S_OK);
    CHECK(good.used_len == kSector + 1);
    CHECK(f.guest_bytes(kData, kSector) == std::vector<uint8_t>(kSector, 0x5a));
    mock.fail_next = EIO;
    CHECK(f.request(VIRTIO_BLK_T_FLUSH, 0, 0, false).status == VIRTIO_BLK_S_IOERR);
    CHECK(f.request(VIRTIO_BLK_T_FLUSH, 0, 0, false).status == VIRTIO_BLK_S_OK);
}

TEST_CASE("virtio-blk: a full host disk (ENOSPC) is IOERR, and the next request works",
          "[virtio][blk][fault]") {
    auto backend = std::make_unique<MockBackend>(64 * kSector);
    MockBackend& mock = *backend;
    BlkFixture f(std::move(backend));
    mock.fail_next = ENOSPC;
    CHECK(f.write(2, std::vector<uint8_t>(kSector, 0x11)).status == VIRTIO_BLK_S_IOERR);
    CHECK(all_zero(mock.data));
    CHECK(f.write(2, std::vector<uint8_t>(kSector, 0x22)).status == VIRTIO_BLK_S_OK);
    CHECK(slice(mock.data, 2 * kSector, kSector) == std::vector<uint8_t>(kSector, 0x22));
    mock.fail_next = ENOSPC;
    CHECK(f.ranges(VIRTIO_BLK_T_WRITE_ZEROES, {{2, 1, 0}}).status == VIRTIO_BLK_S_IOERR);
    CHECK(f.ranges(VIRTIO_BLK_T_WRITE_ZEROES, {{2, 1, 0}}).status == VIRTIO_BLK_S_OK);
    CHECK(all_zero(mock.data));
}

TEST_CASE("virtio-blk: a read past the end of a file that shrank is IOERR", "[virtio][blk]") {
    Engine const engine = GENERATE(Engine::Sync, Engine::IoUring);
    ImageFile image;
    BlkFixture f(file_engine(image.path, false, engine));
    REQUIRE(::truncate(image.path.c_str(), 8 * kSector) == 0);
    CHECK(f.read(7, kSector).status == VIRTIO_BLK_S_OK);
    CHECK(f.read(8, kSector).status == VIRTIO_BLK_S_IOERR);
    CHECK(f.read(6, 4 * kSector).status == VIRTIO_BLK_S_IOERR);  // a short read
}

TEST_CASE("virtio-blk: several requests in one notification, one interrupt; reset stops it",
          "[virtio][blk]") {
    Engine const engine = GENERATE(Engine::Sync, Engine::IoUring);
    ImageFile image;
    BlkFixture f(file_engine(image.path, false, engine));
    for (uint16_t i = 0; i < 4; ++i) {
        f.mock.write(kHeader + 0x100ull * i, BlockRequestHeader{VIRTIO_BLK_T_IN, 0, i});
        f.mock.write_chain(static_cast<uint16_t>(3 * i), {{kHeader + 0x100ull * i, 16},
                                                          {kData + 0x1000ull * i, kSector, true},
                                                          {kStatus + i, 1, true}});
        f.mock.publish(static_cast<uint16_t>(3 * i));
    }
    f.device.process_queue(0);
    f.settle();
    REQUIRE(f.mock.used_idx() == 4);
    // Sync: all four before one interrupt; io_uring: as the completions come.
    if (engine == Engine::Sync) CHECK(f.interrupt.used == 1);
    CHECK(f.interrupt.used >= 1);
    for (uint16_t i = 0; i < 4; ++i) {
        CHECK(f.mock.used(i).len == kSector + 1);
        CHECK(f.guest_bytes(kData + 0x1000ull * i, kSector) ==
              slice(image.contents, i * kSector, kSector));
    }
    f.device.reset();
    f.mock.publish(0);
    f.device.process_queue(0);
    CHECK(f.mock.used_idx() == 4);
}

namespace {

/// An engine that keeps every operation in flight until the test releases it: for the bound on
/// requests in flight and for reset() waiting. Reads fill the buffers with 0xab on release.
class DeferredEngine final : public BlockEngine {
public:
    DeferredEngine(uint64_t size, size_t depth) : m_size(size), m_depth(depth) {}
    uint64_t size() const override { return m_size; }
    size_t depth() const override { return m_depth; }
    void submit(BlockIo const& io, uint32_t tag) override {
        REQUIRE(pending.size() < m_depth);
        pending.push_back({io.op, tag, {io.iov.begin(), io.iov.end()}});
    }
    size_t reap(std::vector<BlockCompletion>& out, bool wait) override {
        if (wait) {
            ++waits;
            release(pending.size());  // what blocking until the I/O ends amounts to
        }
        size_t const count = released.size();
        out.insert(out.end(), released.begin(), released.end());
        released.clear();
        return count;
    }
    size_t in_flight() const override { return pending.size() + released.size(); }
    Result<void, int> discard(uint64_t, uint64_t) override { return {}; }
    Result<void, int> write_zeroes(uint64_t, uint64_t, bool) override { return {}; }
    void replace_image(DiskImage) override {}
    char const* name() const override { return "deferred"; }

    /// Finishes the first `count` operations (0 or `error`).
    void release(size_t count, int error = 0) {
        for (size_t n = 0; n < count && !pending.empty(); ++n) {
            Op const& op = pending.front();
            if (op.op == BlockOp::Read && error == 0)
                for (iovec const& piece : op.iov) std::memset(piece.iov_base, 0xab, piece.iov_len);
            released.push_back({op.tag, error});
            pending.erase(pending.begin());
        }
    }

    struct Op {
        BlockOp op;
        uint32_t tag;
        std::vector<iovec> iov;
    };
    std::vector<Op> pending;
    std::vector<BlockCompletion> released;
    int waits = 0;

private:
    uint64_t m_size;
    size_t m_depth;
};

constexpr uint64_t kManyHeaders = 0x60000;
constexpr uint64_t kManyStatus = 0x70000;
constexpr uint64_t kManyData = 0x80000;  // up to 64 pages

/// Publishes `count` (<= 64) one-sector reads of sectors 0.. into kManyData + 0x1000 * i,
/// status bytes at kManyStatus + i (preset to 0xff), without processing them.
void publish_reads(BlkFixture& f, uint16_t count) {
    for (uint16_t i = 0; i < count; ++i) {
        f.mock.write(kManyHeaders + 0x20ull * i, BlockRequestHeader{VIRTIO_BLK_T_IN, 0, i});
        f.mock.write<uint8_t>(kManyStatus + i, 0xff);
        f.mock.write_chain(static_cast<uint16_t>(3 * i),
                           {{kManyHeaders + 0x20ull * i, 16},
                            {kManyData + 0x1000ull * i, kSector, true},
                            {kManyStatus + i, 1, true}});
        f.mock.publish(static_cast<uint16_t>(3 * i));
    }
}

}  // namespace

TEST_CASE("virtio-blk: no more requests in flight than the engine's depth; the rest wait",
          "[virtio][blk][async]") {
    auto engine = std::make_unique<DeferredEngine>(64 * kSector, 4);
    DeferredEngine& deferred = *engine;
    BlkFixture f(std::move(engine));
    publish_reads(f, 6);
    f.device.process_queue(0);
    CHECK(deferred.pending.size() == 4);
    CHECK(f.device.in_flight() == 4);
    CHECK(f.mock.used_idx() == 0);
    CHECK(f.interrupt.used == 0);
    f.device.process_queue(0);  // another notification takes nothing more
    CHECK(deferred.pending.size() == 4);

    deferred.release(3);
    f.device.process_host_event(0, EPOLLIN);  // three complete, two more start
    CHECK(f.mock.used_idx() == 3);
    CHECK(f.interrupt.used == 1);
    CHECK(deferred.pending.size() == 3);
    deferred.release(1, EIO);  // the fourth fails
    deferred.release(2);
    f.device.process_host_event(0, EPOLLIN);
    REQUIRE(f.mock.used_idx() == 6);
    CHECK(f.device.in_flight() == 0);
    for (uint16_t i = 0; i < 6; ++i) {
        INFO(i);
        CHECK(f.mock.read<uint8_t>(kManyStatus + i) ==
              (i == 3 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK));
    }
    CHECK(f.guest_bytes(kManyData, kSector) == std::vector<uint8_t>(kSector, 0xab));
}

TEST_CASE("virtio-blk: reset waits for requests in flight and completes none of them",
          "[virtio][blk][async]") {
    auto engine = std::make_unique<DeferredEngine>(64 * kSector, 8);
    DeferredEngine& deferred = *engine;
    BlkFixture f(std::move(engine));
    publish_reads(f, 3);
    f.device.process_queue(0);
    REQUIRE(deferred.pending.size() == 3);
    f.device.reset();
    CHECK(deferred.waits >= 1);
    CHECK(deferred.pending.empty());
    CHECK(f.device.in_flight() == 0);
    // Nothing was pushed or written back to the driver: its rings are its own again.
    CHECK(f.mock.used_idx() == 0);
    for (uint16_t i = 0; i < 3; ++i) CHECK(f.mock.read<uint8_t>(kManyStatus + i) == 0xff);
    CHECK(f.interrupt.used == 0);
    f.device.process_host_event(0, EPOLLIN);  // a late event after reset is harmless
    CHECK(f.mock.used_idx() == 0);
}

TEST_CASE("virtio-blk io_uring: reset waits for a read that has not finished",
          "[virtio][blk][uring]") {
    // A pipe as the "image": a read stays in flight until the test writes to it.
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    UniqueFd write_end(fds[1]);
    DiskImage image{"pipe", UniqueFd(fds[0]), 64 * kSector, true};
    auto engine = UringEngine::create(std::move(image), BlockDevice::kQueueSize);
    REQUIRE(engine.has_value());
    BlkFixture f(std::unique_ptr<BlockEngine>(std::move(*engine)), true);
    publish_reads(f, 1);
    f.device.process_queue(0);
    REQUIRE(f.device.in_flight() == 1);
    auto const started = std::chrono::steady_clock::now();
    std::thread writer([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        std::vector<uint8_t> const bytes(kSector, 0x3c);
        CHECK(::write(write_end.get(), bytes.data(), bytes.size()) == ssize_t{kSector});
    });
    f.device.reset();
    auto const waited = std::chrono::steady_clock::now() - started;
    writer.join();
    CHECK(waited >= std::chrono::milliseconds(150));
    CHECK(f.device.in_flight() == 0);
    CHECK(f.mock.used_idx() == 0);
    CHECK(f.mock.read<uint8_t>(kManyStatus) == 0xff);
}

TEST_CASE("virtio-blk io_uring: short transfers are resubmitted for the rest",
          "[virtio][blk][uring]") {
    ImageFile image;
    auto engine = uring_engine(image.path, false);
    UringEngine& uring = *engine;
    int shortened = 0;
    // Every first completion of a transfer moves only 512 bytes (or what it moved, if less).
    uring.set_result_filter([&](BlockOp op, int result) {
        if (op == BlockOp::Flush || result <= static_cast<int>(kSector)) return result;
        ++shortened;
        return static_cast<int>(kSector);
    });
    BlkFixture f(std::unique_ptr<BlockEngine>(std::move(engine)));
    // Data split over three buffers of odd sizes, so a resubmission starts mid-buffer.
    auto const data = vmm::test::random_bytes(4 * kSector, 11);
    REQUIRE(f.memory.write(GuestAddress{kData}, data).has_value());
    f.header(VIRTIO_BLK_T_OUT, 10);
    Reply w = f.submit({{kHeader, 16},
                        {kData, 700},
                        {kData + 700, 1000},
                        {kData + 1700, 4 * kSector - 1700},
                        {kStatus, 1, true}});
    CHECK(w.status == VIRTIO_BLK_S_OK);
    CHECK(slice(read_file(image.path), 10 * kSector, 4 * kSector) == data);
    CHECK(shortened >= 3);
    REQUIRE(f.memory.write(GuestAddress{kData}, std::vector<uint8_t>(4 * kSector)).has_value());
    f.header(VIRTIO_BLK_T_IN, 20);
    Reply r = f.submit({{kHeader, 16},
                        {kData, 1300, true},
                        {kData + 1300, 4 * kSector - 1300, true},
                        {kStatus, 1, true}});
    CHECK(r.status == VIRTIO_BLK_S_OK);
    CHECK(r.used_len == 4 * kSector + 1);
    CHECK(f.guest_bytes(kData, 4 * kSector) == slice(image.contents, 20 * kSector, 4 * kSector));
}

TEST_CASE("virtio-blk io_uring: EIO and ENOSPC from the ring are IOERR; the next request works",
          "[virtio][blk][uring][fault]") {
    ImageFile image;
    auto engine = uring_engine(image.path, false);
    UringEngine& uring = *engine;
    int fail_next = 0;
    uring.set_result_filter([&](BlockOp, int result) {
        if (int const code = std::exchange(fail_next, 0)) return -code;
        return result;
    });
    BlkFixture f(std::unique_ptr<BlockEngine>(std::move(engine)));
    fail_next = EIO;
    Reply bad = f.read(0, kSector);
    CHECK(bad.status == VIRTIO_BLK_S_IOERR);
    CHECK(bad.used_len == 1);
    Reply good = f.read(0, kSector);
    CHECK(good.status == VIRTIO_BLK_S_OK);
    CHECK(good.used_len == kSector + 1);
    CHECK(f.guest_bytes(kData, kSector) == slice(image.contents, 0, kSector));
    fail_next = ENOSPC;
    CHECK(f.write(2, std::vector<uint8_t>(kSector, 0x11)).status == VIRTIO_BLK_S_IOERR);
    CHECK(f.write(2, std::vector<uint8_t>(kSector, 0x22)).status == VIRTIO_BLK_S_OK);
    CHECK(slice(read_file(image.path), 2 * kSector, kSector) ==
          std::vector<uint8_t>(kSector, 0x22));
    fail_next = EIO;
    CHECK(f.request(VIRTIO_BLK_T_FLUSH, 0, 0, false).status == VIRTIO_BLK_S_IOERR);
    CHECK(f.request(VIRTIO_BLK_T_FLUSH, 0, 0, false).status == VIRTIO_BLK_S_OK);
    // A write that moves nothing is an error, not an endless retry.
    uring.set_result_filter(
        [](BlockOp op, int result) { return op == BlockOp::Write ? 0 : result; });
    CHECK(f.write(2, std::vector<uint8_t>(kSector, 0x33)).status == VIRTIO_BLK_S_IOERR);
}

TEST_CASE("virtio-blk io_uring: a full queue of requests in flight at once",
          "[virtio][blk][uring]") {
    ImageFile image;
    BlkFixture f(uring_engine(image.path, false));
    publish_reads(f, 64);
    f.device.process_queue(0);
    f.settle();
    REQUIRE(f.mock.used_idx() == 64);
    for (uint16_t i = 0; i < 64; ++i) {
        INFO(i);
        CHECK(f.mock.read<uint8_t>(kManyStatus + i) == VIRTIO_BLK_S_OK);
        CHECK(f.guest_bytes(kManyData + 0x1000ull * i, kSector) ==
              slice(image.contents, i * kSector, kSector));
    }
}

TEST_CASE("disk images: opened, sized and locked; a locked or missing image is refused",
          "[virtio][blk][disk]") {
    ImageFile image;
    auto opened = open_disk_image(image.path, false);
    REQUIRE(opened.has_value());
    CHECK(opened->size == image.contents.size());
    CHECK((::fcntl(opened->fd.get(), F_GETFD) & FD_CLOEXEC) != 0);

    auto again = open_disk_image(image.path, false);  // same file, writable: busy
    REQUIRE_FALSE(again.has_value());
    CHECK(again.error().kind() == ErrorKind::Input);
    CHECK(again.error().message().find("locked") != std::string::npos);
    CHECK_FALSE(open_disk_image(image.path, true).has_value());  // shared vs exclusive
    opened->fd.reset();                                          // closing releases the lock
    opened = open_disk_image(image.path, true);
    REQUIRE(opened.has_value());
    CHECK(open_disk_image(image.path, true).has_value());  // readers share

    auto missing = open_disk_image(image.dir.path() + "/absent.img", false);
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().kind() == ErrorKind::Input);
    CHECK(missing.error().message().find("absent.img") != std::string::npos);
    auto directory = open_disk_image(image.dir.path(), true);
    REQUIRE_FALSE(directory.has_value());
    CHECK(directory.error().kind() == ErrorKind::Input);
}

TEST_CASE("The --disk option: PATH with ro, id= and engine= suboptions", "[virtio][blk][cli]") {
    auto plain = parse_disk("disk.img");
    REQUIRE(plain.has_value());
    CHECK(plain->path == "disk.img");
    CHECK_FALSE(plain->read_only);
    CHECK(plain->id.empty());
    auto full = parse_disk("/images/root.ext4,ro,id=root,engine=sync");
    REQUIRE(full.has_value());
    CHECK(full->path == "/images/root.ext4");
    CHECK(full->read_only);
    CHECK(full->id == "root");

    for (char const* bad : {"", ",ro", "disk.img,rw", "disk.img,", "disk.img,engine=aio",
                            "disk.img,id=123456789012345678901"}) {
        INFO(bad);
        auto parsed = parse_disk(bad);
        REQUIRE_FALSE(parsed.has_value());
        CHECK(parsed.error().kind() == ErrorKind::Usage);
    }
    CHECK(plain->engine == DiskEngine::Sync);
    CHECK(full->engine == DiskEngine::Sync);
    auto uring = parse_disk("disk.img,engine=io_uring,ro");
    REQUIRE(uring.has_value());
    CHECK(uring->engine == DiskEngine::IoUring);
    CHECK(uring->read_only);
    auto last_wins = parse_disk("disk.img,engine=io_uring,engine=sync");
    REQUIRE(last_wins.has_value());
    CHECK(last_wins->engine == DiskEngine::Sync);
    for (char const* bad : {"disk.img,engine=", "disk.img,engine=IO_URING", "disk.img,engine"}) {
        INFO(bad);
        auto parsed = parse_disk(bad);
        REQUIRE_FALSE(parsed.has_value());
        CHECK(parsed.error().kind() == ErrorKind::Usage);
    }
    auto aio = parse_disk("disk.img,engine=aio");
    REQUIRE_FALSE(aio.has_value());
    CHECK(aio.error().message().find("engine=sync (the default) or engine=io_uring") !=
          std::string::npos);

    char const* argv[] = {"wisp",   "run",   "--kernel", "k",
                          "--disk", "a.img", "--disk",   "b.img,ro,engine=io_uring",
                          nullptr};
    auto command = parse_command_line(8, argv);
    REQUIRE(std::holds_alternative<RunCommand>(command));
    auto const& disks = std::get<RunCommand>(command).config.disks;
    REQUIRE(disks.size() == 2);
    CHECK(disks[0].path == "a.img");
    CHECK(disks[1].path == "b.img");
    CHECK(disks[1].read_only);
    CHECK(disks[0].engine == DiskEngine::Sync);
    CHECK(disks[1].engine == DiskEngine::IoUring);
}

TEST_CASE("virtio: disks take the first windows in command-line order, rng after them",
          "[virtio][blk][vmm]") {
    MachineConfig config{.disks = {{.path = "a.img"}, {.path = "b.img"}}, .rng = true};
    auto slots = virtio_slots(config);
    REQUIRE(slots.has_value());
    REQUIRE(slots->size() == 3);
    CHECK((*slots)[0].kind == VirtioKind::Block);
    CHECK((*slots)[0].disk == 0);
    CHECK((*slots)[0].address == 0xd000'1000);
    CHECK((*slots)[1].kind == VirtioKind::Block);
    CHECK((*slots)[1].disk == 1);
    CHECK((*slots)[1].irq == 6);
    CHECK((*slots)[2].kind == VirtioKind::Rng);
    CHECK((*slots)[2].address == 0xd000'3000);

    MachineConfig crowded;
    crowded.disks.resize(8, DiskConfig{.path = "x.img"});
    auto too_many = virtio_slots(crowded);
    REQUIRE_FALSE(too_many.has_value());
    CHECK(too_many.error().kind() == ErrorKind::Usage);
}
