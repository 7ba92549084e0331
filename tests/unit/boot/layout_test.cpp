// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <array>
#include <vector>

#include "boot/x86_64/e820.h"
#include "boot/x86_64/layout.h"
#include "vmm/base/size.h"

using namespace vmm;
using namespace vmm::boot::x86_64;

namespace {

std::vector<GuestMemory::RegionSpec> layout_of(uint64_t size) {
    auto r = memory_layout(size);
    INFO((r ? std::string() : r.error().message()));
    REQUIRE(r.has_value());
    return *r;
}

void require_refused(uint64_t size) {
    INFO("size " << size);
    auto r = memory_layout(size);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind() == ErrorKind::Usage);
}

std::vector<E820Entry> e820_for(uint64_t size) {
    auto specs = layout_of(size);
    auto memory = GuestMemory::create(specs);
    INFO((memory ? std::string() : memory.error().message()));
    REQUIRE(memory.has_value());
    return build_e820(memory->regions());
}

// The low part every machine shares: RAM to the EBDA, the legacy hole reserved, RAM from 1 MiB.
std::vector<E820Entry> low_map(uint64_t low_end) {
    return {
        {0, 0x9fc00, E820Type::Ram},
        {0x9fc00, 0x100000 - 0x9fc00, E820Type::Reserved},
        {0x100000, low_end - 0x100000, E820Type::Ram},
    };
}

}  // namespace

TEST_CASE("memory_layout keeps small machines in one region at 0", "[boot][layout]") {
    for (uint64_t size : {4_MiB, 128_MiB, 4_MiB + 4_KiB, 3_GiB - 4_KiB}) {
        INFO("size " << size);
        auto regions = layout_of(size);
        REQUIRE(regions.size() == 1);
        CHECK(regions[0].start.value == 0);
        CHECK(regions[0].size == size);
    }
}

TEST_CASE("memory_layout at exactly 3 GiB fills up to the MMIO hole", "[boot][layout]") {
    auto regions = layout_of(3_GiB);
    REQUIRE(regions.size() == 1);
    CHECK(regions[0].start.value == 0);
    CHECK(regions[0].size == kMmioHoleStart);
}

TEST_CASE("memory_layout splits larger machines around the MMIO hole", "[boot][layout]") {
    auto regions = layout_of(4_GiB);
    REQUIRE(regions.size() == 2);
    CHECK(regions[0].start.value == 0);
    CHECK(regions[0].size == 3_GiB);
    CHECK(regions[1].start.value == 4_GiB);
    CHECK(regions[1].size == 1_GiB);

    auto just_over = layout_of(3_GiB + 4_KiB);
    REQUIRE(just_over.size() == 2);
    CHECK(just_over[1].start.value == kMmioHoleEnd);
    CHECK(just_over[1].size == 4_KiB);

    auto max = layout_of(kMaxMemory);
    REQUIRE(max.size() == 2);
    CHECK(max[0].size + max[1].size == kMaxMemory);
    CHECK(max[1].start.value == 4_GiB);
}

TEST_CASE("memory_layout refuses sizes out of range or not a multiple of 4 KiB",
          "[boot][layout]") {
    require_refused(0);
    require_refused(4_KiB);
    require_refused(kMinMemory - 4_KiB);
    require_refused(kMaxMemory + 4_KiB);
    require_refused(UINT64_MAX);
    require_refused(4_MiB + 1);
    require_refused(128_MiB + 512);
    require_refused(4_GiB - 1);
    CHECK(memory_layout(kMinMemory).has_value());
    CHECK(memory_layout(kMaxMemory).has_value());
}

TEST_CASE("build_e820 describes 4 MiB and 128 MiB machines", "[boot][layout][e820]") {
    CHECK(e820_for(4_MiB) == low_map(4_MiB));
    CHECK(e820_for(128_MiB) == low_map(128_MiB));
}

TEST_CASE("build_e820 describes a 3 GiB machine up to the MMIO hole", "[boot][layout][e820]") {
    CHECK(e820_for(3_GiB) == low_map(kMmioHoleStart));
}

TEST_CASE("build_e820 adds the RAM above 4 GiB", "[boot][layout][e820]") {
    auto expected = low_map(3_GiB);
    expected.push_back({4_GiB, 1_GiB, E820Type::Ram});
    CHECK(e820_for(4_GiB) == expected);
}

TEST_CASE("build_e820 on RAM smaller than the legacy area", "[boot][layout][e820]") {
    auto small = GuestMemory::create(std::array{GuestMemory::RegionSpec{GuestAddress{0}, 64_KiB}});
    REQUIRE(small.has_value());
    CHECK(build_e820(small->regions()) == std::vector<E820Entry>{{0, 64_KiB, E820Type::Ram}});

    // Entries never overlap and are sorted.
    auto map = e820_for(4_GiB);
    for (size_t i = 1; i < map.size(); ++i)
        CHECK(map[i - 1].address + map[i - 1].size <= map[i].address);
}
