// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

// The kernel's own uapi layout, to check ours against (it declares a flexible array member).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#include <asm/bootparam.h>
#pragma GCC diagnostic pop

#include <array>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "boot/x86_64/boot_params.h"
#include "boot/x86_64/layout.h"
#include "vmm/base/size.h"

using namespace vmm;
using namespace vmm::boot::x86_64;

namespace {

std::vector<E820Entry> const kMap{
    {0, 0x9fc00, E820Type::Ram},
    {0x9fc00, 0x60400, E820Type::Reserved},
    {0x100000, 127_MiB, E820Type::Ram},
    {4_GiB, 1_GiB, E820Type::Ram},
};

// A kernel's header as a bzImage would carry it.
SetupHeader kernel_header() {
    SetupHeader h{};
    h.setup_sects = 27;
    h.boot_flag = 0xaa55;
    h.jump = 0x6aeb;
    h.header = 0x53726448;
    h.version = 0x020f;
    h.loadflags = 0x01;
    h.code32_start = 0x100000;
    h.initrd_addr_max = 0x7fffffff;
    h.kernel_alignment = 0x200000;
    h.relocatable_kernel = 1;
    h.min_alignment = 21;
    h.xloadflags = 0x1f;
    h.cmdline_size = 2047;
    h.pref_address = 0x1000000;
    h.init_size = 0x2a3b000;
    h.handover_offset = 0x190;
    return h;
}

BootParams made(SetupHeader const& header, BootParamsInputs const& inputs) {
    auto r = make_boot_params(header, inputs);
    INFO((r ? std::string() : r.error().message()));
    REQUIRE(r.has_value());
    return *r;
}

}  // namespace

TEST_CASE("Our boot_params layout matches the kernel's uapi header", "[boot][boot_params]") {
    STATIC_REQUIRE(sizeof(BootParams) == sizeof(boot_params));
    STATIC_REQUIRE(sizeof(SetupHeader) == sizeof(setup_header));
    STATIC_REQUIRE(sizeof(BootE820Entry) == sizeof(boot_e820_entry));
    STATIC_REQUIRE(offsetof(BootParams, hdr) == offsetof(boot_params, hdr));
    STATIC_REQUIRE(offsetof(BootParams, e820_entries) == offsetof(boot_params, e820_entries));
    STATIC_REQUIRE(offsetof(BootParams, e820_table) == offsetof(boot_params, e820_table));
    STATIC_REQUIRE(offsetof(BootParams, sentinel) == offsetof(boot_params, sentinel));
    STATIC_REQUIRE(offsetof(BootParams, ext_ramdisk_image) ==
                   offsetof(boot_params, ext_ramdisk_image));
    STATIC_REQUIRE(offsetof(BootParams, ext_ramdisk_size) ==
                   offsetof(boot_params, ext_ramdisk_size));
    STATIC_REQUIRE(offsetof(BootParams, ext_cmd_line_ptr) ==
                   offsetof(boot_params, ext_cmd_line_ptr));
    STATIC_REQUIRE(offsetof(SetupHeader, cmd_line_ptr) == offsetof(setup_header, cmd_line_ptr));
    STATIC_REQUIRE(offsetof(SetupHeader, xloadflags) == offsetof(setup_header, xloadflags));
    STATIC_REQUIRE(offsetof(SetupHeader, cmdline_size) == offsetof(setup_header, cmdline_size));
    STATIC_REQUIRE(offsetof(SetupHeader, pref_address) == offsetof(setup_header, pref_address));
    STATIC_REQUIRE(offsetof(SetupHeader, init_size) == offsetof(setup_header, init_size));
    STATIC_REQUIRE(offsetof(SetupHeader, kernel_info_offset) ==
                   offsetof(setup_header, kernel_info_offset));
    STATIC_REQUIRE(kLoadedHigh == LOADED_HIGH);
    STATIC_REQUIRE(kCanUseHeap == CAN_USE_HEAP);
    STATIC_REQUIRE(kXlfKernel64 == XLF_KERNEL_64);
}

TEST_CASE("make_boot_params copies the header and fills the loader's fields",
          "[boot][boot_params]") {
    LoadedModule const initrd{0x7000000, 0x123456};
    auto const params = made(
        kernel_header(),
        {.e820 = kMap, .cmdline_address = kCmdlineAddress, .cmdline_size = 21, .initrd = initrd});
    // The kernel's own fields are kept.
    CHECK(params.hdr.setup_sects == 27);
    CHECK(params.hdr.boot_flag == 0xaa55);
    CHECK(params.hdr.header == 0x53726448);
    CHECK(params.hdr.version == 0x020f);
    CHECK(params.hdr.code32_start == 0x100000);
    CHECK(params.hdr.kernel_alignment == 0x200000);
    CHECK(params.hdr.relocatable_kernel == 1);
    CHECK(params.hdr.xloadflags == 0x1f);
    CHECK(params.hdr.cmdline_size == 2047);
    CHECK(params.hdr.pref_address == 0x1000000);
    CHECK(params.hdr.init_size == 0x2a3b000);
    CHECK(params.hdr.handover_offset == 0x190);
    // The loader's.
    CHECK(params.hdr.type_of_loader == 0xff);
    CHECK((params.hdr.loadflags & kLoadedHigh) != 0);
    CHECK((params.hdr.loadflags & kCanUseHeap) == 0);  // no real-mode setup, no heap
    CHECK(params.hdr.heap_end_ptr == 0);
    CHECK(params.hdr.cmd_line_ptr == kCmdlineAddress);
    CHECK(params.ext_cmd_line_ptr == 0);
    CHECK(params.hdr.ramdisk_image == 0x7000000);
    CHECK(params.hdr.ramdisk_size == 0x123456);
    CHECK(params.ext_ramdisk_image == 0);
    CHECK(params.ext_ramdisk_size == 0);
    CHECK(params.sentinel == 0);
    REQUIRE(params.e820_entries == kMap.size());
    for (size_t i = 0; i < kMap.size(); ++i) {
        INFO("entry " << i);
        CHECK(params.e820_table[i].address == kMap[i].address);
        CHECK(params.e820_table[i].size == kMap[i].size);
        CHECK(params.e820_table[i].type == static_cast<uint32_t>(kMap[i].type));
    }
    CHECK(params.e820_table[kMap.size()].size == 0);

    // Everything this loader does not know about stays zero.
    auto const* bytes = reinterpret_cast<uint8_t const*>(&params);
    for (size_t i = 0; i < 0xc0; ++i) REQUIRE(bytes[i] == 0);
    for (size_t i = 0xcd0; i < 0x1000; ++i) REQUIRE(bytes[i] == 0);
}

TEST_CASE("make_boot_params splits 64-bit addresses into the ext_ fields", "[boot][boot_params]") {
    LoadedModule const initrd{0x1'2345'6000, 0x2'0000'0010};
    auto const params =
        made(kernel_header(),
             {.e820 = kMap, .cmdline_address = 0x3'0002'0000, .cmdline_size = 0, .initrd = initrd});
    CHECK(params.hdr.cmd_line_ptr == 0x20000);
    CHECK(params.ext_cmd_line_ptr == 3);
    CHECK(params.hdr.ramdisk_image == 0x23456000);
    CHECK(params.ext_ramdisk_image == 1);
    CHECK(params.hdr.ramdisk_size == 0x10);
    CHECK(params.ext_ramdisk_size == 2);
}

TEST_CASE("make_boot_params without an initrd leaves the ramdisk fields zero",
          "[boot][boot_params]") {
    SetupHeader header = kernel_header();
    header.ramdisk_image = 0xdead;  // junk in the image's header is not passed on
    header.ramdisk_size = 0xbeef;
    header.loadflags = 0x81;
    auto const params =
        made(header, {.e820 = kMap, .cmdline_address = kCmdlineAddress, .cmdline_size = 3});
    CHECK(params.hdr.ramdisk_image == 0);
    CHECK(params.hdr.ramdisk_size == 0);
    CHECK(params.ext_ramdisk_image == 0);
    CHECK(params.hdr.loadflags == kLoadedHigh);
}

TEST_CASE("make_boot_params refuses too many E820 entries and a too long command line",
          "[boot][boot_params]") {
    std::vector<E820Entry> const many(129, E820Entry{0, 4096, E820Type::Ram});
    auto r = make_boot_params(kernel_header(), {.e820 = many});
    REQUIRE_FALSE(r.has_value());
    std::vector<E820Entry> const max(128, E820Entry{0x1000, 4096, E820Type::Ram});
    auto full = made(kernel_header(), {.e820 = max});
    CHECK(full.e820_entries == 128);
    CHECK(full.e820_table[127].address == 0x1000);

    SetupHeader header = kernel_header();
    header.cmdline_size = 255;
    CHECK(make_boot_params(header, {.e820 = kMap, .cmdline_size = 255}).has_value());
    auto long_line = make_boot_params(header, {.e820 = kMap, .cmdline_size = 256});
    REQUIRE_FALSE(long_line.has_value());
    CHECK(long_line.error().kind() == ErrorKind::Usage);
    CHECK_THAT(long_line.error().message(), Catch::Contains("255"));
}

TEST_CASE("vmlinux_setup_header describes a 64-bit kernel to the kernel itself",
          "[boot][boot_params]") {
    SetupHeader const h = vmlinux_setup_header();
    CHECK(h.boot_flag == 0xaa55);
    CHECK(h.header == 0x53726448);
    CHECK(h.version >= 0x020c);
    CHECK((h.xloadflags & kXlfKernel64) != 0);
    CHECK((h.loadflags & kLoadedHigh) != 0);
    CHECK(h.cmdline_size == 2047);
    CHECK(uint64_t{h.initrd_addr_max} + 1 == kMmioHoleStart);
}

TEST_CASE("write_boot_params puts the zero page at its fixed address", "[boot][boot_params]") {
    auto memory = GuestMemory::create(std::array{GuestMemory::RegionSpec{GuestAddress{0}, 1_MiB}});
    REQUIRE(memory.has_value());
    auto const params = made(kernel_header(), {.e820 = kMap, .cmdline_address = kCmdlineAddress});
    auto r = write_boot_params(*memory, params);
    REQUIRE(r.has_value());
    CHECK(*r == kBootParamsAddress);
    auto back = memory->read_obj<BootParams>(GuestAddress{kBootParamsAddress});
    REQUIRE(back.has_value());
    CHECK(std::memcmp(&*back, &params, sizeof params) == 0);
    CHECK(memory->read_obj<uint32_t>(GuestAddress{kBootParamsAddress + 0x202}).value() ==
          0x53726448);
    CHECK(memory->read_obj<uint8_t>(GuestAddress{kBootParamsAddress + 0x1e8}).value() == 4);
    CHECK(memory->read_obj<uint32_t>(GuestAddress{kBootParamsAddress + 0x228}).value() ==
          kCmdlineAddress);

    auto tiny = GuestMemory::create(std::array{GuestMemory::RegionSpec{GuestAddress{0}, 32_KiB}});
    REQUIRE(tiny.has_value());
    CHECK_FALSE(write_boot_params(*tiny, params).has_value());
}

TEST_CASE("boot_params and the page tables sit between the PVH structures and the command line",
          "[boot][boot_params]") {
    STATIC_REQUIRE(kMemoryMapAddress + kMemoryMapMaxEntries * sizeof(HvmMemmapEntry) <=
                   kBootParamsAddress);
    STATIC_REQUIRE(kBootParamsAddress + sizeof(BootParams) <= kPml4Address);
    STATIC_REQUIRE(kPageDirectoryAddress + kPageDirectoryCount * 4096 <= kCmdlineAddress);
}
