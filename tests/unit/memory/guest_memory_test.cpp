// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "vmm/base/size.h"
#include "vmm/memory/guest_memory.h"

using namespace vmm;

namespace {

struct PaddedStruct {
    uint8_t a;
    uint32_t b;  // three bytes of padding before it
};
static_assert(!GuestPod<PaddedStruct>);
static_assert(!GuestPod<float>);  // several bit patterns compare equal
static_assert(!GuestPod<std::vector<uint8_t>>);

struct Pair {
    uint32_t a;
    uint32_t b;
};
static_assert(GuestPod<Pair>);
static_assert(GuestPod<uint64_t>);
static_assert(GuestPod<std::array<uint16_t, 3>>);

// range_contains is constexpr: check the edges at compile time as well.
static_assert(range_contains(0x1000, 0x1000, 0x1000, 0x1000));
static_assert(!range_contains(0x1000, 0x1000, 0x1000, 0x1001));
static_assert(!range_contains(0, UINT64_MAX, UINT64_MAX, 1));

constexpr uint64_t kLowSize = 64_KiB;
constexpr uint64_t kHighStart = 1_MiB;
constexpr uint64_t kHighSize = 64_KiB;

GuestMemory two_regions() {
    std::array<GuestMemory::RegionSpec, 2> const layout{{
        {GuestAddress{0}, kLowSize},
        {GuestAddress{kHighStart}, kHighSize},
    }};
    auto memory = GuestMemory::create(layout);
    INFO((memory ? std::string() : memory.error().message()));
    REQUIRE(memory.has_value());
    return std::move(*memory);
}

bool created(std::span<GuestMemory::RegionSpec const> layout) {
    auto memory = GuestMemory::create(layout);
    return memory.has_value();
}

}  // namespace

TEST_CASE("range_contains accepts both edges and refuses one past", "[memory]") {
    CHECK(range_contains(0x1000, 0x1000, 0x1000, 1));       // first byte
    CHECK(range_contains(0x1000, 0x1000, 0x1fff, 1));       // last byte
    CHECK(range_contains(0x1000, 0x1000, 0x1000, 0x1000));  // all of it
    CHECK_FALSE(range_contains(0x1000, 0x1000, 0x2000, 1)); // one past
    CHECK_FALSE(range_contains(0x1000, 0x1000, 0xfff, 1));  // one before
    CHECK_FALSE(range_contains(0x1000, 0x1000, 0xfff, 2));  // straddles the start
    CHECK_FALSE(range_contains(0x1000, 0x1000, 0x1fff, 2)); // straddles the end
    CHECK_FALSE(range_contains(0x1000, 0x1000, 0x1001, 0x1000));
}

TEST_CASE("range_contains handles zero lengths", "[memory]") {
    CHECK(range_contains(0x1000, 0x1000, 0x1000, 0));
    CHECK(range_contains(0x1000, 0x1000, 0x2000, 0));  // the empty range at the end
    CHECK_FALSE(range_contains(0x1000, 0x1000, 0x2001, 0));
    CHECK_FALSE(range_contains(0x1000, 0x1000, 0xfff, 0));
    CHECK(range_contains(0, 0, 0, 0));
    CHECK_FALSE(range_contains(0, 0, 0, 1));
    CHECK_FALSE(range_contains(0, 0, 1, 0));
}

TEST_CASE("range_contains never wraps around UINT64_MAX", "[memory]") {
    CHECK_FALSE(range_contains(0x1000, 0x1000, 0x1800, UINT64_MAX));
    CHECK_FALSE(range_contains(0x1000, 0x1000, 0x1001, UINT64_MAX));
    CHECK_FALSE(range_contains(0x1000, 0x1000, UINT64_MAX, 2));
    CHECK_FALSE(range_contains(0x1000, 0x1000, UINT64_MAX, UINT64_MAX));
    CHECK_FALSE(range_contains(0x1000, 0x1000, 0x1fff, UINT64_MAX - 0xffe));  // 0x1fff + that == 0

    // A range that ends exactly at 2^64.
    uint64_t const top = UINT64_MAX - 0xfff;
    CHECK(range_contains(top, 0x1000, UINT64_MAX, 1));
    CHECK(range_contains(top, 0x1000, top, 0x1000));
    CHECK_FALSE(range_contains(top, 0x1000, top, 0x1001));
    CHECK_FALSE(range_contains(top, 0x1000, UINT64_MAX, 2));
    CHECK_FALSE(range_contains(top, 0x1000, top - 1, 0x1000));

    // The whole address space but the last byte.
    CHECK(range_contains(0, UINT64_MAX, 0, UINT64_MAX));
    CHECK(range_contains(0, UINT64_MAX, UINT64_MAX - 1, 1));
    CHECK_FALSE(range_contains(0, UINT64_MAX, UINT64_MAX, 1));
    CHECK_FALSE(range_contains(0, UINT64_MAX, 1, UINT64_MAX));
}

TEST_CASE("GuestMemory::create maps sorted page-aligned regions", "[memory]") {
    GuestMemory memory = two_regions();
    REQUIRE(memory.regions().size() == 2);
    CHECK(memory.regions()[0].start.value == 0);
    CHECK(memory.regions()[0].size() == kLowSize);
    CHECK(memory.regions()[1].start.value == kHighStart);
    CHECK(memory.regions()[1].size() == kHighSize);
    CHECK(memory.total_size() == kLowSize + kHighSize);
    CHECK(memory.regions()[0].mapping.data() != nullptr);
    CHECK(memory.regions()[0].mapping.data() != memory.regions()[1].mapping.data());

    // Adjacent regions are allowed.
    std::array<GuestMemory::RegionSpec, 2> const adjacent{{
        {GuestAddress{0}, 4_KiB},
        {GuestAddress{4_KiB}, 4_KiB},
    }};
    CHECK(created(adjacent));
}

TEST_CASE("GuestMemory::create rejects misaligned, empty, overlapping or wrapping regions",
          "[memory]") {
    using Spec = GuestMemory::RegionSpec;
    CHECK_FALSE(created(std::array{Spec{GuestAddress{0x800}, 4_KiB}}));
    CHECK_FALSE(created(std::array{Spec{GuestAddress{0}, 4_KiB + 1}}));
    CHECK_FALSE(created(std::array{Spec{GuestAddress{0}, 0x800}}));
    CHECK_FALSE(created(std::array{Spec{GuestAddress{0}, 0}}));
    CHECK_FALSE(created(std::array{Spec{GuestAddress{0}, 64_KiB}, Spec{GuestAddress{32_KiB}, 64_KiB}}));
    CHECK_FALSE(created(std::array{Spec{GuestAddress{0}, 64_KiB}, Spec{GuestAddress{60_KiB}, 4_KiB}}));
    CHECK_FALSE(created(std::array{Spec{GuestAddress{0}, 64_KiB}, Spec{GuestAddress{0}, 64_KiB}}));
    // Unsorted.
    CHECK_FALSE(created(std::array{Spec{GuestAddress{1_MiB}, 4_KiB}, Spec{GuestAddress{0}, 4_KiB}}));
    // Ends past 2^64.
    CHECK_FALSE(created(std::array{Spec{GuestAddress{UINT64_MAX - 0xfff}, 8_KiB}}));
    CHECK_FALSE(created(std::array{Spec{GuestAddress{UINT64_MAX - 0xfff}, 4_KiB}}));
    // A region after one that fails must not be mapped: the whole create fails.
    auto r = GuestMemory::create(std::array{Spec{GuestAddress{0}, 4_KiB}, Spec{GuestAddress{1}, 4_KiB}});
    REQUIRE_FALSE(r.has_value());
    CHECK_FALSE(r.error().message().empty());
}

TEST_CASE("GuestMemory reads and writes inside each region up to the last byte", "[memory]") {
    GuestMemory memory = two_regions();
    std::array<uint8_t, 4> const data{1, 2, 3, 4};
    std::array<uint8_t, 4> out{};

    uint64_t const high_last = kHighStart + kHighSize - 1;
    std::array<uint8_t, 1> const one{0x5a};
    REQUIRE(memory.write(GuestAddress{high_last}, one).has_value());
    auto slice = memory.slice(GuestAddress{high_last}, 1);
    REQUIRE(slice.has_value());
    REQUIRE(slice->size() == 1);
    CHECK((*slice)[0] == 0x5a);
    CHECK(slice->data() == memory.regions()[1].mapping.data() + kHighSize - 1);

    // The regions are distinct: the high write did not land in the low region.
    auto low_slice = memory.slice(GuestAddress{kHighSize - 1}, 1);
    REQUIRE(low_slice.has_value());
    CHECK((*low_slice)[0] == 0);

    REQUIRE(memory.write(GuestAddress{0}, data).has_value());
    REQUIRE(memory.read(GuestAddress{0}, out).has_value());
    CHECK(out == data);

    REQUIRE(memory.write(GuestAddress{kLowSize - 4}, data).has_value());
    out = {};
    REQUIRE(memory.read(GuestAddress{kLowSize - 4}, out).has_value());
    CHECK(out == data);

    // A whole-region slice.
    auto whole = memory.slice(GuestAddress{kHighStart}, kHighSize);
    REQUIRE(whole.has_value());
    CHECK(whole->size() == kHighSize);
}

TEST_CASE("GuestMemory refuses accesses one past a region, in the gap, or across it",
          "[memory]") {
    GuestMemory memory = two_regions();
    std::array<uint8_t, 2> two{0xaa, 0xbb};
    std::array<uint8_t, 1> one{0xcc};

    CHECK_FALSE(memory.slice(GuestAddress{kLowSize}, 1).has_value());
    CHECK_FALSE(memory.slice(GuestAddress{kHighStart + kHighSize}, 1).has_value());
    CHECK_FALSE(memory.slice(GuestAddress{kHighStart - 1}, 1).has_value());
    CHECK_FALSE(memory.slice(GuestAddress{kLowSize + 0x1000}, 1).has_value());
    CHECK(memory.read(GuestAddress{kLowSize}, one).error() == MemoryError::OutOfRange);
    CHECK(memory.write(GuestAddress{kHighStart + kHighSize}, one).error() ==
          MemoryError::OutOfRange);

    // Straddling the end of a region: refused, and nothing is written.
    CHECK_FALSE(memory.write(GuestAddress{kLowSize - 1}, two).has_value());
    CHECK_FALSE(memory.write(GuestAddress{kHighStart - 1}, two).has_value());
    CHECK_FALSE(memory.write(GuestAddress{kHighStart + kHighSize - 1}, two).has_value());
    auto last = memory.slice(GuestAddress{kLowSize - 1}, 1);
    REQUIRE(last.has_value());
    CHECK((*last)[0] == 0);
    auto first_high = memory.slice(GuestAddress{kHighStart}, 1);
    REQUIRE(first_high.has_value());
    CHECK((*first_high)[0] == 0);

    // Spanning the whole gap from one region into the other.
    CHECK_FALSE(memory.slice(GuestAddress{0}, kHighStart + 1).has_value());
    CHECK_FALSE(memory.slice(GuestAddress{kLowSize - 8}, kHighStart - kLowSize + 16).has_value());
    std::vector<uint8_t> big(kLowSize + 1);
    CHECK_FALSE(memory.read(GuestAddress{0}, big).has_value());
    CHECK_FALSE(memory.slice(GuestAddress{0}, kLowSize + kHighSize).has_value());

    // Zero-length accesses inside a region succeed; in the gap they do not.
    std::span<uint8_t> empty;
    CHECK(memory.read(GuestAddress{0x10}, empty).has_value());
    CHECK_FALSE(memory.read(GuestAddress{kLowSize + 0x1000}, empty).has_value());
}

TEST_CASE("GuestMemory refuses addresses and lengths near UINT64_MAX", "[memory]") {
    GuestMemory memory = two_regions();
    std::array<uint8_t, 4> buf{};
    CHECK_FALSE(memory.slice(GuestAddress{UINT64_MAX}, 1).has_value());
    CHECK_FALSE(memory.slice(GuestAddress{UINT64_MAX - 3}, 4).has_value());
    CHECK_FALSE(memory.slice(GuestAddress{0x10}, UINT64_MAX).has_value());
    CHECK_FALSE(memory.slice(GuestAddress{kHighStart + 0x10}, UINT64_MAX - kHighStart).has_value());
    CHECK_FALSE(memory.slice(GuestAddress{1}, UINT64_MAX).has_value());  // 1 + len wraps to 0
    CHECK_FALSE(memory.read(GuestAddress{UINT64_MAX - 1}, buf).has_value());
    CHECK_FALSE(memory.write(GuestAddress{UINT64_MAX}, buf).has_value());
    CHECK_FALSE(memory.read_obj<uint64_t>(GuestAddress{UINT64_MAX - 7}).has_value());
}

TEST_CASE("GuestMemory handles a region that ends just below 2^64", "[memory]") {
    uint64_t const start = UINT64_MAX - 8_KiB + 1;  // [2^64 - 8 KiB, 2^64 - 4 KiB)
    auto memory = GuestMemory::create(std::array{GuestMemory::RegionSpec{GuestAddress{start}, 4_KiB}});
    REQUIRE(memory.has_value());
    uint64_t const last = start + 4_KiB - 1;
    CHECK(memory->slice(GuestAddress{last}, 1).has_value());
    CHECK(memory->slice(GuestAddress{start}, 4_KiB).has_value());
    CHECK_FALSE(memory->slice(GuestAddress{last}, 2).has_value());
    CHECK_FALSE(memory->slice(GuestAddress{last + 1}, 1).has_value());
    CHECK_FALSE(memory->slice(GuestAddress{UINT64_MAX}, 1).has_value());
    CHECK_FALSE(memory->slice(GuestAddress{start}, UINT64_MAX).has_value());
    CHECK_FALSE(memory->slice(GuestAddress{last}, UINT64_MAX).has_value());
    CHECK_FALSE(memory->slice(GuestAddress{start - 1}, 2).has_value());
    REQUIRE(memory->write_obj(GuestAddress{last - 7}, uint64_t{0x0102030405060708}).has_value());
    auto value = memory->read_obj<uint64_t>(GuestAddress{last - 7});
    REQUIRE(value.has_value());
    CHECK(*value == 0x0102030405060708);
    CHECK_FALSE(memory->read_obj<uint64_t>(GuestAddress{last - 6}).has_value());
}

TEST_CASE("GuestMemory read_obj and write_obj round-trip and respect bounds", "[memory]") {
    GuestMemory memory = two_regions();
    Pair const pair{0x11223344, 0x55667788};

    REQUIRE(memory.write_obj(GuestAddress{0x100}, pair).has_value());
    auto back = memory.read_obj<Pair>(GuestAddress{0x100});
    REQUIRE(back.has_value());
    CHECK(back->a == pair.a);
    CHECK(back->b == pair.b);
    // Little-endian byte for byte.
    auto bytes = memory.slice(GuestAddress{0x100}, 8);
    REQUIRE(bytes.has_value());
    CHECK((*bytes)[0] == 0x44);
    CHECK((*bytes)[7] == 0x55);

    uint64_t const at_end = kHighStart + kHighSize - sizeof(Pair);
    REQUIRE(memory.write_obj(GuestAddress{at_end}, pair).has_value());
    auto end_back = memory.read_obj<Pair>(GuestAddress{at_end});
    REQUIRE(end_back.has_value());
    CHECK(end_back->b == pair.b);

    auto past = memory.read_obj<Pair>(GuestAddress{at_end + 1});
    REQUIRE_FALSE(past.has_value());
    CHECK(past.error() == MemoryError::OutOfRange);
    CHECK_FALSE(memory.write_obj(GuestAddress{kLowSize - 4}, pair).has_value());
    CHECK_FALSE(memory.read_obj<uint32_t>(GuestAddress{kLowSize - 3}).has_value());
    CHECK(memory.read_obj<uint32_t>(GuestAddress{kLowSize - 4}).has_value());
    // The refused write left the low region's tail untouched.
    auto tail = memory.read_obj<uint32_t>(GuestAddress{kLowSize - 4});
    REQUIRE(tail.has_value());
    CHECK(*tail == 0);
}
