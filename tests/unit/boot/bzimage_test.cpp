// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "boot/x86_64/bzimage.h"
#include "vmm/base/size.h"

using namespace vmm;
using namespace vmm::boot::x86_64;

namespace {

// A synthetic bzImage written with boot.rst's offsets, independently of boot_params.h:
// boot sector + setup sectors, then the "protected-mode kernel" (a byte pattern).
struct BzOptions {
    uint8_t setup_sects = 4;
    uint16_t boot_flag = 0xaa55;
    char const* magic = "HdrS";
    uint16_t version = 0x020f;
    uint8_t header_length = 0x6a;  // jump offset: the header ends at 0x202 + 0x6a = 0x26c
    uint8_t loadflags = 0x01;      // LOADED_HIGH
    uint8_t relocatable = 1;
    uint32_t kernel_alignment = 0x200000;
    uint16_t xloadflags = 0x1;  // XLF_KERNEL_64
    uint32_t cmdline_size = 2047;
    uint32_t initrd_addr_max = 0x7fffffff;
    uint64_t pref_address = 16_MiB;
    uint32_t init_size = 0x100000;
    uint64_t kernel_size = 0x1000;
};

template <typename T>
void put(std::vector<uint8_t>& bytes, uint64_t offset, T value) {
    REQUIRE(offset + sizeof value <= bytes.size());
    std::memcpy(bytes.data() + offset, &value, sizeof value);
}

uint8_t kernel_byte(uint64_t i) { return static_cast<uint8_t>(0x5a ^ (i * 13)); }

uint64_t setup_size(BzOptions const& o) { return ((o.setup_sects ? o.setup_sects : 4) + 1) * 512; }

std::vector<uint8_t> make_bzimage(BzOptions const& o = {}) {
    uint64_t const setup = setup_size(o);
    std::vector<uint8_t> b(setup + o.kernel_size, 0);
    put<uint8_t>(b, 0x1f1, o.setup_sects);
    put<uint32_t>(b, 0x1f4, static_cast<uint32_t>((o.kernel_size + 15) / 16));
    put<uint16_t>(b, 0x1fe, o.boot_flag);
    put<uint8_t>(b, 0x200, 0xeb);
    put<uint8_t>(b, 0x201, o.header_length);
    std::memcpy(b.data() + 0x202, o.magic, 4);
    put<uint16_t>(b, 0x206, o.version);
    put<uint8_t>(b, 0x211, o.loadflags);
    put<uint32_t>(b, 0x214, 0x100000);
    put<uint32_t>(b, 0x22c, o.initrd_addr_max);
    put<uint32_t>(b, 0x230, o.kernel_alignment);
    put<uint8_t>(b, 0x234, o.relocatable);
    put<uint8_t>(b, 0x235, 21);
    put<uint16_t>(b, 0x236, o.xloadflags);
    put<uint32_t>(b, 0x238, o.cmdline_size);
    put<uint64_t>(b, 0x258, o.pref_address);
    put<uint32_t>(b, 0x260, o.init_size);
    for (uint64_t i = 0; i < o.kernel_size; ++i) b[setup + i] = kernel_byte(i);
    return b;
}

BzImage parsed(std::vector<uint8_t> const& bytes) {
    auto r = parse_bzimage(bytes);
    INFO((r ? std::string() : r.error().message()));
    REQUIRE(r.has_value());
    return *r;
}

std::string refused(std::span<uint8_t const> bytes) {
    auto r = parse_bzimage(bytes);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind() == ErrorKind::Image);
    CHECK_FALSE(r.error().message().empty());
    return r.error().message();
}

GuestMemory make_memory(uint64_t size) {
    auto memory = GuestMemory::create(std::array{GuestMemory::RegionSpec{GuestAddress{0}, size}});
    REQUIRE(memory.has_value());
    return std::move(*memory);
}

}  // namespace

TEST_CASE("A valid 64-bit bzImage parses: load at pref_address, entry at +0x200",
          "[boot][bzimage]") {
    auto const image = make_bzimage();
    BzImage const bz = parsed(image);
    CHECK(bz.mode == EntryMode::Linux64);
    CHECK(bz.kernel_offset == 5 * 512);
    CHECK(bz.kernel_size == 0x1000);
    CHECK(bz.load_address == 16_MiB);
    CHECK(bz.entry == 16_MiB + 0x200);
    CHECK(bz.end == 16_MiB + 0x100000);  // init_size is larger than the file
    CHECK(bz.cmdline_size == 2047);
    CHECK(bz.initrd_limit == 0x80000000);
    // The header is the image's, byte for byte.
    CHECK(std::memcmp(&bz.header, image.data() + 0x1f1, sizeof bz.header) == 0);
    CHECK(bz.header.version == 0x020f);
    CHECK(bz.header.pref_address == 16_MiB);
}

TEST_CASE("A bzImage without XLF_KERNEL_64 is entered at its 32-bit entry", "[boot][bzimage]") {
    BzImage const bz = parsed(make_bzimage({.xloadflags = 0}));
    CHECK(bz.mode == EntryMode::Linux32);
    CHECK(bz.load_address == 16_MiB);
    CHECK(bz.entry == 16_MiB);

    // Not relocatable: loaded at 1 MiB, decompressing to pref_address.
    BzImage const fixed = parsed(make_bzimage({.relocatable = 0, .xloadflags = 0}));
    CHECK(fixed.mode == EntryMode::Linux32);
    CHECK(fixed.load_address == 1_MiB);
    CHECK(fixed.entry == 1_MiB);
    CHECK(fixed.end == 16_MiB + 0x100000);

    // xloadflags does not exist before protocol 2.12: bytes there mean nothing.
    CHECK(parsed(make_bzimage({.version = 0x020b})).mode == EntryMode::Linux32);
}

TEST_CASE("The end covers the file when it is larger than init_size", "[boot][bzimage]") {
    BzImage const bz = parsed(make_bzimage({.init_size = 0x800, .kernel_size = 0x3000}));
    CHECK(bz.end == 16_MiB + 0x3000);
}

TEST_CASE("setup_sects 0 means 4", "[boot][bzimage]") {
    BzImage const bz = parsed(make_bzimage({.setup_sects = 0}));
    CHECK(bz.kernel_offset == 5 * 512);
    BzImage const more = parsed(make_bzimage({.setup_sects = 30}));
    CHECK(more.kernel_offset == 31 * 512);
    CHECK(more.kernel_size == 0x1000);
}

TEST_CASE(
    "Before protocol 2.10 a bzImage loads at 1 MiB and header bytes past its end are "
    "ignored",
    "[boot][bzimage]") {
    // A 2.06 header ends at 0x23c; whatever follows is setup code, not pref_address.
    auto image = make_bzimage({.version = 0x0206, .header_length = 0x3a, .xloadflags = 0});
    BzImage const bz = parsed(image);
    CHECK(bz.load_address == 1_MiB);
    CHECK(bz.entry == 1_MiB);
    CHECK(bz.end == 1_MiB + 0x1000);
    CHECK(bz.header.pref_address == 0);
    CHECK(bz.header.init_size == 0);
    CHECK(bz.header.cmdline_size == 2047);
}

TEST_CASE("Parsing refuses a wrong signature or boot flag", "[boot][bzimage]") {
    CHECK_THAT(refused(make_bzimage({.magic = "HdrT"})), Catch::Contains("HdrS"));
    CHECK_THAT(refused(make_bzimage({.boot_flag = 0x55aa})), Catch::Contains("boot flag"));
    CHECK_THAT(refused(make_bzimage({.boot_flag = 0})), Catch::Contains("0xaa55"));
}

TEST_CASE("Parsing refuses boot protocols before 2.06 and names the version", "[boot][bzimage]") {
    auto const message = refused(make_bzimage({.version = 0x0205}));
    CHECK_THAT(message, Catch::Contains("2.05"));
    CHECK_THAT(message, Catch::Contains("2.06"));
    refused(make_bzimage({.version = 0x0200}));
    refused(make_bzimage({.version = 0}));
}

TEST_CASE("Parsing refuses a header shorter than its protocol needs", "[boot][bzimage]") {
    // 2.10 needs the header through init_size (0x264); 0x202 + 0x3a = 0x23c is too short.
    CHECK_THAT(refused(make_bzimage({.header_length = 0x3a})), Catch::Contains("too short"));
    refused(make_bzimage({.version = 0x0206, .header_length = 0x20}));
    refused(make_bzimage({.header_length = 0x80}));  // negative: before 0x202
    auto image = make_bzimage();
    image[0x200] = 0xe9;  // not a short jump
    refused(image);
}

TEST_CASE("Parsing refuses a zImage (not LOADED_HIGH)", "[boot][bzimage]") {
    CHECK_THAT(refused(make_bzimage({.loadflags = 0})), Catch::Contains("LOADED_HIGH"));
    refused(make_bzimage({.loadflags = 0x80}));
}

TEST_CASE("Parsing refuses setup sectors that reach the end of the file", "[boot][bzimage]") {
    auto image = make_bzimage({.xloadflags = 0, .kernel_size = 0x400});
    image[0x1f1] = 255;  // 256 * 512 bytes of setup, far past the end
    CHECK_THAT(refused(image), Catch::Contains("truncated"));
    image[0x1f1] = 6;  // exactly the end: no kernel left
    refused(image);
    image[0x1f1] = 5;
    CHECK(parsed(image).kernel_size == 0x200);
}

TEST_CASE("Parsing refuses every truncation that cuts the header or the setup", "[boot][bzimage]") {
    auto const image = make_bzimage();
    std::span<uint8_t const> const all(image);
    for (size_t size = 0; size <= setup_size({}); ++size) {
        INFO("size " << size);
        refused(all.first(size));
    }
    CHECK(parsed(std::vector<uint8_t>(image.begin(), image.begin() + 5 * 512 + 0x201)).entry ==
          16_MiB + 0x200);
    // Too short to hold the 64-bit entry at +0x200.
    CHECK_THAT(refused(all.first(5 * 512 + 0x200)), Catch::Contains("64-bit entry"));
    CHECK(parsed(make_bzimage({.xloadflags = 0, .kernel_size = 1})).kernel_size == 1);
}

TEST_CASE("Parsing refuses a huge init_size without overflowing", "[boot][bzimage]") {
    CHECK_THAT(refused(make_bzimage({.init_size = 0xffffffff})), Catch::Contains("MMIO hole"));
    refused(make_bzimage({.init_size = 0xc0000000}));
    refused(make_bzimage({.pref_address = 2_GiB, .init_size = 1_GiB + 1}));
    CHECK(parsed(make_bzimage({.pref_address = 2_GiB, .init_size = 1_GiB})).end == 3_GiB);
}

TEST_CASE("Parsing refuses a load address outside low RAM", "[boot][bzimage]") {
    for (uint64_t address :
         {uint64_t{0}, uint64_t{0x10000}, 1_MiB - 0x1000, 3_GiB, uint64_t{0xd000'0000}, 4_GiB,
          UINT64_MAX - 0x1fffff, uint64_t{1} << 63}) {
        INFO("pref_address " << address);
        refused(make_bzimage({.kernel_alignment = 0x1000, .pref_address = address}));
    }
    CHECK_THAT(refused(make_bzimage({.pref_address = 0xd000'0000})), Catch::Contains("RAM"));
}

TEST_CASE("Parsing refuses a bad kernel_alignment or a misaligned pref_address",
          "[boot][bzimage]") {
    CHECK_THAT(refused(make_bzimage({.kernel_alignment = 0})), Catch::Contains("kernel_alignment"));
    refused(make_bzimage({.kernel_alignment = 0x300000}));
    refused(make_bzimage({.kernel_alignment = 0x80000000}));
    CHECK_THAT(refused(make_bzimage({.pref_address = 16_MiB + 1_MiB})),
               Catch::Contains("multiple"));
    // Only a relocatable kernel's alignment matters.
    CHECK(parsed(make_bzimage({.relocatable = 0, .kernel_alignment = 0})).load_address == 1_MiB);
}

TEST_CASE("Loading copies the protected-mode kernel to its load address", "[boot][bzimage]") {
    for (uint16_t xloadflags : {uint16_t{0}, uint16_t{1}}) {
        INFO("xloadflags " << xloadflags);
        auto const image = make_bzimage({.xloadflags = xloadflags, .kernel_size = 0x1234});
        GuestMemory memory = make_memory(64_MiB);
        auto r = load_bzimage(memory, image);
        INFO((r ? std::string() : r.error().message()));
        REQUIRE(r.has_value());
        CHECK(r->entry == (xloadflags ? 16_MiB + 0x200 : 16_MiB));
        auto loaded = memory.slice(GuestAddress{16_MiB}, 0x1234);
        REQUIRE(loaded.has_value());
        for (uint64_t i = 0; i < 0x1234; ++i) {
            INFO("byte " << i);
            REQUIRE((*loaded)[i] == kernel_byte(i));
        }
        // Nothing else is touched: not the setup sectors, not the bytes around the kernel.
        CHECK(memory.read_obj<uint8_t>(GuestAddress{16_MiB - 1}).value() == 0);
        CHECK(memory.read_obj<uint8_t>(GuestAddress{16_MiB + 0x1234}).value() == 0);
        CHECK(memory.read_obj<uint16_t>(GuestAddress{1_MiB + 0x1fe}).value() == 0);
    }
}

TEST_CASE("Loading refuses a kernel whose memory does not fit and names --memory",
          "[boot][bzimage]") {
    // The kernel needs 16 MiB + init_size (1 MiB): 17 MiB fits exactly, 16 MiB does not.
    GuestMemory exact = make_memory(17_MiB);
    CHECK(load_bzimage(exact, make_bzimage()).has_value());
    GuestMemory small = make_memory(16_MiB);
    auto r = load_bzimage(small, make_bzimage());
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind() == ErrorKind::Image);
    CHECK_THAT(r.error().message(), Catch::Contains("--memory"));
    // A load address far past RAM.
    GuestMemory memory = make_memory(64_MiB);
    auto far = load_bzimage(memory, make_bzimage({.pref_address = 2_GiB}));
    REQUIRE_FALSE(far.has_value());
    CHECK_THAT(far.error().message(), Catch::Contains("--memory"));
}

TEST_CASE("has_setup_header looks for HdrS at 0x202", "[boot][bzimage]") {
    CHECK(has_setup_header(make_bzimage()));
    CHECK_FALSE(has_setup_header(make_bzimage({.magic = "HdrX"})));
    auto image = make_bzimage();
    CHECK(has_setup_header(std::span<uint8_t const>(image).first(0x206)));
    CHECK_FALSE(has_setup_header(std::span<uint8_t const>(image).first(0x205)));
    CHECK_FALSE(has_setup_header({}));
}

TEST_CASE("Parsing survives random corruption of a valid bzImage", "[boot][bzimage]") {
    std::mt19937 rng(4242);
    auto const image = make_bzimage();
    for (int round = 0; round < 4000; ++round) {
        std::vector<uint8_t> bytes = image;
        int const flips = 1 + static_cast<int>(rng() % 4);
        for (int i = 0; i < flips; ++i)
            bytes[0x1f0 + rng() % (0x270 - 0x1f0)] = static_cast<uint8_t>(rng());
        if (rng() % 8 == 0) bytes.resize(rng() % bytes.size());
        auto r = parse_bzimage(bytes);
        if (!r) {
            CHECK(r.error().kind() == ErrorKind::Image);
            continue;
        }
        // Whatever is accepted honours the documented invariants.
        CHECK(r->kernel_offset < bytes.size());
        CHECK(r->kernel_offset + r->kernel_size == bytes.size());
        CHECK(r->load_address >= 1_MiB);
        CHECK(r->load_address + r->kernel_size <= r->end);
        CHECK(r->end <= 3_GiB);
        CHECK(r->entry >= r->load_address);
        CHECK(r->entry < r->load_address + r->kernel_size);
        CHECK(r->header.version >= 0x0206);
    }
}
