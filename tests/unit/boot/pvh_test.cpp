// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "boot/initrd.h"
#include "boot/x86_64/e820.h"
#include "boot/x86_64/layout.h"
#include "boot/x86_64/pvh.h"
#include "vmm/base/size.h"

using namespace vmm;
using namespace vmm::boot;
using namespace vmm::boot::x86_64;

namespace {

GuestMemory make_memory(uint64_t size) {
    auto memory = GuestMemory::create(std::array{GuestMemory::RegionSpec{GuestAddress{0}, size}});
    REQUIRE(memory.has_value());
    return std::move(*memory);
}

template <typename T>
T read(GuestMemory const& memory, uint64_t address) {
    auto r = memory.read_obj<T>(GuestAddress{address});
    REQUIRE(r.has_value());
    return *r;
}

std::string read_cstring(GuestMemory const& memory, uint64_t address, size_t max) {
    auto bytes = memory.slice(GuestAddress{address}, max);
    REQUIRE(bytes.has_value());
    auto const* begin = bytes->data();
    auto const* nul = static_cast<uint8_t const*>(std::memchr(begin, 0, max));
    REQUIRE(nul != nullptr);
    return std::string(begin, nul);
}

std::vector<E820Entry> const kMap{
    {0, 0x9fc00, E820Type::Ram},
    {0x9fc00, 0x60400, E820Type::Reserved},
    {0x100000, 127_MiB, E820Type::Ram},
};

}  // namespace

TEST_CASE("write_pvh_start_info writes start info, cmdline and memory map", "[boot][pvh]") {
    GuestMemory memory = make_memory(128_MiB);
    // Dirty the cmdline area so the NUL must really be written.
    auto area = memory.slice(GuestAddress{kCmdlineAddress}, 4096);
    REQUIRE(area.has_value());
    std::memset(area->data(), 'Z', area->size());

    auto r = write_pvh_start_info(memory, "console=ttyS0 panic=1", kMap, std::nullopt);
    INFO((r ? std::string() : r.error().message()));
    REQUIRE(r.has_value());
    CHECK(*r == kStartInfoAddress);

    auto const info = read<HvmStartInfo>(memory, *r);
    CHECK(info.magic == kHvmStartMagic);
    CHECK(info.magic == 0x336ec578);
    CHECK(info.version == 1);
    CHECK(info.flags == 0);
    CHECK(info.nr_modules == 0);
    CHECK(info.modlist_paddr == 0);
    CHECK(info.rsdp_paddr == 0);
    CHECK(info.cmdline_paddr == kCmdlineAddress);
    CHECK(info.memmap_paddr == kMemoryMapAddress);
    CHECK(info.memmap_entries == kMap.size());
    CHECK(info.reserved == 0);

    CHECK(read_cstring(memory, info.cmdline_paddr, 4096) == "console=ttyS0 panic=1");
    CHECK(read<uint8_t>(memory, info.cmdline_paddr + 21) == 0);

    for (size_t i = 0; i < kMap.size(); ++i) {
        INFO("entry " << i);
        auto const e = read<HvmMemmapEntry>(memory, info.memmap_paddr + i * sizeof(HvmMemmapEntry));
        CHECK(e.addr == kMap[i].address);
        CHECK(e.size == kMap[i].size);
        CHECK(e.type == static_cast<uint32_t>(kMap[i].type));
        CHECK(e.reserved == 0);
    }
    // Nothing written past the last entry.
    auto const after =
        read<HvmMemmapEntry>(memory, info.memmap_paddr + kMap.size() * sizeof(HvmMemmapEntry));
    CHECK(after.addr == 0);
    CHECK(after.size == 0);
    CHECK(after.type == 0);
}

TEST_CASE("write_pvh_start_info lists the initrd as module 0", "[boot][pvh]") {
    GuestMemory memory = make_memory(128_MiB);
    LoadedModule const initrd{0x7000000, 0x123456};
    auto r = write_pvh_start_info(memory, "", kMap, initrd);
    REQUIRE(r.has_value());
    auto const info = read<HvmStartInfo>(memory, *r);
    CHECK(info.nr_modules == 1);
    CHECK(info.modlist_paddr == kModuleListAddress);
    auto const module = read<HvmModlistEntry>(memory, info.modlist_paddr);
    CHECK(module.paddr == 0x7000000);
    CHECK(module.size == 0x123456);
    CHECK(module.cmdline_paddr == 0);
    CHECK(module.reserved == 0);
    // An empty command line is still a NUL-terminated string.
    CHECK(read<uint8_t>(memory, info.cmdline_paddr) == 0);
}

TEST_CASE("PVH structures at their fixed addresses do not overlap", "[boot][pvh]") {
    STATIC_REQUIRE(kStartInfoAddress + sizeof(HvmStartInfo) <= kModuleListAddress);
    STATIC_REQUIRE(kModuleListAddress + sizeof(HvmModlistEntry) <= kMemoryMapAddress);
    STATIC_REQUIRE(kMemoryMapAddress + kMemoryMapMaxEntries * sizeof(HvmMemmapEntry) <=
                   kCmdlineAddress);
    STATIC_REQUIRE(kCmdlineAddress + 2048 <= kEbdaStart);
    STATIC_REQUIRE(kGdtAddress + 5 * 8 <= kStartInfoAddress);
}

TEST_CASE("write_pvh_start_info writes the longest command line in full", "[boot][pvh]") {
    GuestMemory memory = make_memory(4_MiB);
    std::string const line(2047, 'q');
    auto r = write_pvh_start_info(memory, line, kMap, std::nullopt);
    REQUIRE(r.has_value());
    CHECK(read_cstring(memory, kCmdlineAddress, 2048) == line);
}

TEST_CASE("write_pvh_start_info fails cleanly when guest memory is too small", "[boot][pvh]") {
    GuestMemory memory = make_memory(64_KiB);  // below the command line at 128 KiB
    auto r = write_pvh_start_info(memory, "x", kMap, std::nullopt);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind() == ErrorKind::Image);
}

TEST_CASE("write_pvh_start_info refuses more memory map entries than fit", "[boot][pvh]") {
    GuestMemory memory = make_memory(4_MiB);
    std::vector<E820Entry> const many(kMemoryMapMaxEntries + 1, E820Entry{0, 4096, E820Type::Ram});
    CHECK_FALSE(write_pvh_start_info(memory, "", many, std::nullopt).has_value());
    std::vector<E820Entry> const max(kMemoryMapMaxEntries, E820Entry{0, 4096, E820Type::Ram});
    auto r = write_pvh_start_info(memory, "", max, std::nullopt);
    REQUIRE(r.has_value());
    CHECK(read<HvmStartInfo>(memory, *r).memmap_entries == kMemoryMapMaxEntries);
}

TEST_CASE("place_initrd picks the highest page-aligned spot below RAM's end", "[boot][initrd]") {
    GuestMemory memory = make_memory(128_MiB);
    auto r = place_initrd(memory, 1_MiB + 1, 2_MiB, UINT64_MAX);
    REQUIRE(r.has_value());
    CHECK(*r % 4096 == 0);
    CHECK(*r == 128_MiB - 1_MiB - 4_KiB);
    CHECK(*r + 1_MiB + 1 <= 128_MiB);

    auto exact = place_initrd(memory, 8_KiB, 2_MiB, UINT64_MAX);
    REQUIRE(exact.has_value());
    CHECK(*exact == 128_MiB - 8_KiB);
}

TEST_CASE("place_initrd stays below the limit and the MMIO hole", "[boot][initrd]") {
    GuestMemory memory = make_memory(128_MiB);
    auto r = place_initrd(memory, 4_KiB, 2_MiB, 64_MiB);
    REQUIRE(r.has_value());
    CHECK(*r == 64_MiB - 4_KiB);

    auto odd = place_initrd(memory, 100, 2_MiB, 64_MiB + 123);  // an unaligned limit
    REQUIRE(odd.has_value());
    CHECK(*odd % 4096 == 0);
    CHECK(*odd + 100 <= 64_MiB + 123);
    CHECK(*odd == 64_MiB);

    // A 4 GiB machine: RAM above 4 GiB is not used, the initrd ends at the hole.
    auto big = GuestMemory::create(std::array{GuestMemory::RegionSpec{GuestAddress{0}, 3_GiB},
                                              GuestMemory::RegionSpec{GuestAddress{4_GiB}, 1_GiB}});
    REQUIRE(big.has_value());
    auto high = place_initrd(*big, 16_MiB, 2_MiB, UINT64_MAX);
    REQUIRE(high.has_value());
    CHECK(*high == kMmioHoleStart - 16_MiB);
}

TEST_CASE("place_initrd stays above the kernel and 1 MiB", "[boot][initrd]") {
    GuestMemory memory = make_memory(128_MiB);
    // Exactly fills the space between the kernel and the end of RAM.
    auto fit = place_initrd(memory, 126_MiB, 2_MiB, UINT64_MAX);
    REQUIRE(fit.has_value());
    CHECK(*fit == 2_MiB);
    // One byte more would start below the kernel's end.
    auto over = place_initrd(memory, 126_MiB + 1, 2_MiB, UINT64_MAX);
    REQUIRE_FALSE(over.has_value());
    CHECK(over.error().kind() == ErrorKind::Image);
    CHECK_THAT(over.error().message(), Catch::Contains("--memory"));
    // An unaligned kernel end: the initrd starts at or above it.
    auto unaligned = place_initrd(memory, 126_MiB - 8_KiB, 2_MiB + 1, UINT64_MAX);
    REQUIRE(unaligned.has_value());
    CHECK(*unaligned >= 2_MiB + 1);
    // With no kernel end given, still never below 1 MiB.
    auto low = place_initrd(memory, 127_MiB, 0, UINT64_MAX);
    REQUIRE(low.has_value());
    CHECK(*low == 1_MiB);
    CHECK_FALSE(place_initrd(memory, 127_MiB + 1, 0, UINT64_MAX).has_value());
}

TEST_CASE("place_initrd refuses an empty, too big or unplaceable initrd", "[boot][initrd]") {
    GuestMemory memory = make_memory(128_MiB);
    for (auto [size, kernel_end, limit] : {
             std::array<uint64_t, 3>{0, 2_MiB, UINT64_MAX},
             std::array<uint64_t, 3>{128_MiB, 2_MiB, UINT64_MAX},
             std::array<uint64_t, 3>{UINT64_MAX, 2_MiB, UINT64_MAX},
             std::array<uint64_t, 3>{UINT64_MAX - 4095, 2_MiB, UINT64_MAX},
             std::array<uint64_t, 3>{4_KiB, 128_MiB, UINT64_MAX},  // kernel fills RAM
             std::array<uint64_t, 3>{4_KiB, UINT64_MAX, UINT64_MAX},
             std::array<uint64_t, 3>{4_KiB, 2_MiB, 2_MiB},         // limit at the kernel
             std::array<uint64_t, 3>{4_KiB, 2_MiB, 0},
         }) {
        INFO("size " << size << " kernel_end " << kernel_end << " limit " << limit);
        auto r = place_initrd(memory, size, kernel_end, limit);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind() == ErrorKind::Image);
    }
}

TEST_CASE("load_initrd copies the data to where place_initrd puts it", "[boot][initrd]") {
    GuestMemory memory = make_memory(16_MiB);
    std::vector<uint8_t> data(10000);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 31);
    auto r = load_initrd(memory, data, 2_MiB, UINT64_MAX);
    REQUIRE(r.has_value());
    CHECK(r->size == data.size());
    auto placed = place_initrd(memory, data.size(), 2_MiB, UINT64_MAX);
    REQUIRE(placed.has_value());
    CHECK(r->address == *placed);
    std::vector<uint8_t> back(data.size());
    REQUIRE(memory.read(GuestAddress{r->address}, back).has_value());
    CHECK(back == data);

    CHECK_FALSE(load_initrd(memory, {}, 2_MiB, UINT64_MAX).has_value());
}
