// SPDX-License-Identifier: Apache-2.0
// A drive update: BlockDevice::replace_image through the transport's change_config, as
// Machine::update_drive does it.
#include <catch2/catch.hpp>

#include <array>
#include <cstring>
#include <vector>

#include "devices/virtio/block/block_device.h"
#include "devices/virtio/block/disk_image.h"
#include "devices/virtio/block/sync_backend.h"
#include "devices/virtio/mmio_transport.h"
#include "tests/support/temp_file.h"
#include "vmm/base/size.h"

namespace {

using namespace vmm;
using namespace vmm::devices::virtio;

struct NoIrq final : IrqLine {
    void trigger() override { ++count; }
    int count = 0;
};

std::unique_ptr<BlockBackend> backend(std::string const& path) {
    auto image = open_disk_image(path, false);
    REQUIRE(image);
    return std::make_unique<SyncBackend>(std::move(*image));
}

DiskImage image(std::string const& path) {
    auto opened = open_disk_image(path, false);
    REQUIRE(opened);
    return std::move(*opened);
}

uint64_t config_capacity(MmioTransport& transport) {
    std::array<uint8_t, 8> bytes{};
    transport.read(MmioTransport::kConfigOffset + offsetof(BlockConfig, capacity), bytes);
    uint64_t capacity;
    std::memcpy(&capacity, bytes.data(), sizeof capacity);
    return capacity;
}

}  // namespace

TEST_CASE("A drive update swaps the image; a new size shows in the config space", "[virtio][blk]") {
    vmm::test::TempDir dir;
    auto const small = dir.write("small.img", std::vector<uint8_t>(64 * 1024, 1));
    auto const large = dir.write("large.img", std::vector<uint8_t>(128 * 1024, 2));
    auto const same = dir.write("same.img", std::vector<uint8_t>(128 * 1024, 3));
    std::array<GuestMemory::RegionSpec, 1> const layout{{{GuestAddress{0}, 1_MiB}}};
    auto memory = GuestMemory::create(layout);
    REQUIRE(memory);
    auto device = std::make_shared<BlockDevice>(backend(small), BlockOptions{small});
    auto irq = std::make_shared<NoIrq>();
    MmioTransport transport(device, *memory, irq);
    CHECK(config_capacity(transport) == 128);

    bool const resized = transport.change_config(
        [&](VirtioDevice&) { return device->replace_image(image(large), large); });
    CHECK(resized);
    CHECK(config_capacity(transport) == 256);
    CHECK(device->capacity() == 256);
    // Not yet DRIVER_OK: no interrupt for a driver that is not there.
    CHECK(irq->count == 0);
    // The old image was released: another writer can lock it now.
    CHECK(open_disk_image(small, false));

    CHECK_FALSE(transport.change_config(
        [&](VirtioDevice&) { return device->replace_image(image(same), same); }));
    CHECK(device->capacity() == 256);
}
