// SPDX-License-Identifier: Apache-2.0
// load_guest: image format detection, entry mode and what the guest finds in memory, without
// KVM (load_guest runs before /dev/kvm is opened).
#include <catch2/catch.hpp>

#include <elf.h>

#include <cstring>
#include <string>
#include <vector>

#include "boot/x86_64/boot_params.h"
#include "boot/x86_64/layout.h"
#include "tests/support/temp_file.h"
#include "vmm/builder.h"

using namespace vmm;
using namespace vmm::boot::x86_64;
using vmm::test::TempDir;

namespace {

template <typename T>
void put(std::vector<uint8_t>& bytes, uint64_t offset, T value) {
    REQUIRE(offset + sizeof value <= bytes.size());
    std::memcpy(bytes.data() + offset, &value, sizeof value);
}

// A minimal bzImage (boot.rst offsets): 4 setup sectors, then 8 KiB of "kernel".
std::vector<uint8_t> bzimage(uint16_t xloadflags, uint32_t cmdline_size = 2047,
                             uint32_t initrd_addr_max = 0x7fffffff) {
    std::vector<uint8_t> b(5 * 512 + 0x2000, 0x90);
    std::memset(b.data(), 0, 5 * 512);
    put<uint8_t>(b, 0x1f1, 4);
    put<uint16_t>(b, 0x1fe, 0xaa55);
    put<uint16_t>(b, 0x200, 0x6aeb);
    std::memcpy(b.data() + 0x202, "HdrS", 4);
    put<uint16_t>(b, 0x206, 0x020f);
    put<uint8_t>(b, 0x211, 0x01);
    put<uint32_t>(b, 0x22c, initrd_addr_max);
    put<uint32_t>(b, 0x230, 0x200000);
    put<uint8_t>(b, 0x234, 1);
    put<uint16_t>(b, 0x236, xloadflags);
    put<uint32_t>(b, 0x238, cmdline_size);
    put<uint64_t>(b, 0x258, 0x1000000);
    put<uint32_t>(b, 0x260, 0x200000);
    return b;
}

// A minimal ELF64 executable without notes: one segment at 2 MiB, e_entry inside it.
std::vector<uint8_t> elf64(uint64_t entry) {
    std::vector<uint8_t> b(0x1000 + 0x100, 0xf4);
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_entry = entry;
    eh.e_phoff = sizeof eh;
    eh.e_ehsize = sizeof eh;
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = 1;
    put(b, 0, eh);
    Elf64_Phdr ph{};
    ph.p_type = PT_LOAD;
    ph.p_offset = 0x1000;
    ph.p_paddr = 0x200000;
    ph.p_vaddr = 0xffffffff80200000;
    ph.p_filesz = 0x100;
    ph.p_memsz = 0x4000;
    put(b, sizeof eh, ph);
    return b;
}

// Native: on a PVM host the auto profile would add its options to the command line.
Result<LoadedGuest> load(MachineConfig config) {
    config.host_profile = HostProfile::Native;
    return load_guest(config);
}

LoadedGuest loaded(MachineConfig const& config) {
    auto r = load(config);
    INFO((r ? std::string() : r.error().message()));
    REQUIRE(r.has_value());
    return std::move(*r);
}

BootParams boot_params_of(LoadedGuest const& guest) {
    auto params = guest.memory.read_obj<BootParams>(GuestAddress{kBootParamsAddress});
    REQUIRE(params.has_value());
    return *params;
}

std::string string_at(GuestMemory const& memory, uint64_t address) {
    std::string text;
    for (;; ++address) {
        auto c = memory.read_obj<char>(GuestAddress{address});
        REQUIRE(c.has_value());
        if (*c == '\0') return text;
        text += *c;
    }
}

}  // namespace

TEST_CASE("load_guest boots a 64-bit bzImage through boot_params", "[builder][bzImage]") {
    TempDir dir;
    std::vector<uint8_t> const initrd(10000, 0x42);
    MachineConfig const config{.kernel = dir.write("bzImage", bzimage(0x1)),
                               .initrd = dir.write("initrd", initrd),
                               .cmdline = "console=ttyS0 hello",
                               .memory = 64_MiB};
    LoadedGuest const guest = loaded(config);
    CHECK(guest.mode == EntryMode::Linux64);
    CHECK(guest.regs.rip == 0x1000000 + 0x200);
    CHECK(guest.regs.rsi == kBootParamsAddress);
    CHECK(guest.regs.rbx == 0);
    CHECK(guest.memory.read_obj<uint8_t>(GuestAddress{0x1000000}).value() == 0x90);

    BootParams const params = boot_params_of(guest);
    CHECK(params.hdr.header == kSetupHeaderMagic);
    CHECK(params.hdr.version == 0x020f);
    CHECK(params.hdr.type_of_loader == 0xff);
    CHECK(params.hdr.cmd_line_ptr == kCmdlineAddress);
    CHECK(string_at(guest.memory, params.hdr.cmd_line_ptr) == "console=ttyS0 hello");
    CHECK(params.e820_entries == 3);
    CHECK(params.e820_table[2].address == 1_MiB);
    CHECK(params.e820_table[2].size == 63_MiB);
    CHECK(params.hdr.ramdisk_size == initrd.size());
    CHECK(params.hdr.ramdisk_image % 4096 == 0);
    CHECK(params.hdr.ramdisk_image >= 0x1000000 + 0x200000);  // above the kernel's init_size
    CHECK(params.hdr.ramdisk_image + initrd.size() <= 64_MiB);
    CHECK(guest.memory.read_obj<uint8_t>(GuestAddress{params.hdr.ramdisk_image}).value() == 0x42);
    // The 64-bit GDT and the identity page tables are in place.
    CHECK(guest.memory.read_obj<uint64_t>(GuestAddress{kGdtAddress + 0x10}).value() ==
          boot_gdt(EntryMode::Linux64)[2]);
    CHECK(guest.memory.read_obj<uint64_t>(GuestAddress{kPml4Address}).value() ==
          (kPdptAddress | 3));
}

TEST_CASE("load_guest enters a bzImage without XLF_KERNEL_64 at its 32-bit entry",
          "[builder][bzImage]") {
    TempDir dir;
    LoadedGuest const guest =
        loaded({.kernel = dir.write("bzImage", bzimage(0)), .cmdline = "", .memory = 32_MiB});
    CHECK(guest.mode == EntryMode::Linux32);
    CHECK(guest.regs.rip == 0x1000000);
    CHECK(guest.regs.rsi == kBootParamsAddress);
    CHECK(guest.memory.read_obj<uint64_t>(GuestAddress{kGdtAddress + 0x10}).value() ==
          boot_gdt(EntryMode::Linux32)[2]);
    BootParams const params = boot_params_of(guest);
    CHECK(params.hdr.ramdisk_image == 0);
    CHECK(string_at(guest.memory, params.hdr.cmd_line_ptr).empty());
}

TEST_CASE("load_guest enters an ELF64 without a PVH note through boot_params at e_entry",
          "[builder][boot_params]") {
    TempDir dir;
    LoadedGuest const guest = loaded({.kernel = dir.write("vmlinux", elf64(0x200010)),
                                      .cmdline = "root=/dev/vda",
                                      .memory = 16_MiB});
    CHECK(guest.mode == EntryMode::Linux64);
    CHECK(guest.regs.rip == 0x200010);
    CHECK(guest.regs.rsi == kBootParamsAddress);
    BootParams const params = boot_params_of(guest);
    CHECK(params.hdr.header == kSetupHeaderMagic);
    CHECK(params.hdr.boot_flag == 0xaa55);
    CHECK((params.hdr.xloadflags & kXlfKernel64) != 0);
    CHECK(params.hdr.type_of_loader == 0xff);
    CHECK(string_at(guest.memory, params.hdr.cmd_line_ptr) == "root=/dev/vda");
    CHECK(params.e820_entries == 3);
}

TEST_CASE("load_guest refuses a command line longer than the bzImage's cmdline_size",
          "[builder][bzImage]") {
    TempDir dir;
    auto const path = dir.write("bzImage", bzimage(0x1, 16));
    CHECK(load({.kernel = path, .cmdline = std::string(16, 'x'), .memory = 32_MiB}).has_value());
    auto r = load({.kernel = path, .cmdline = std::string(17, 'x'), .memory = 32_MiB});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind() == ErrorKind::Usage);
    CHECK_THAT(r.error().message(), Catch::Contains("cmdline_size"));
}

TEST_CASE("load_guest keeps the initrd below the bzImage's initrd_addr_max", "[builder][bzImage]") {
    TempDir dir;
    std::vector<uint8_t> const initrd(3 * 4096, 7);
    LoadedGuest const guest = loaded({.kernel = dir.write("bzImage", bzimage(0x1, 2047, 0x1ffffff)),
                                      .initrd = dir.write("initrd", initrd),
                                      .memory = 128_MiB});
    BootParams const params = boot_params_of(guest);
    CHECK(params.hdr.ramdisk_image + initrd.size() - 1 <= 0x1ffffff);
    CHECK(params.hdr.ramdisk_image == 0x2000000 - initrd.size());
}

TEST_CASE("load_guest names both formats for a file that is neither", "[builder]") {
    TempDir dir;
    auto r = load({.kernel = dir.write("junk", std::string(4096, 'j')), .memory = 32_MiB});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind() == ErrorKind::Image);
    CHECK_THAT(r.error().message(), Catch::Contains("ELF"));
    CHECK_THAT(r.error().message(), Catch::Contains("bzImage"));

    auto old = bzimage(0x1);
    put<uint16_t>(old, 0x206, 0x0205);
    auto refused = load({.kernel = dir.write("old", old), .memory = 32_MiB});
    REQUIRE_FALSE(refused.has_value());
    CHECK_THAT(refused.error().message(), Catch::Contains("2.05"));
}
