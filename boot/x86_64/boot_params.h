// SPDX-License-Identifier: Apache-2.0
// The Linux x86 boot protocol's data (Documentation/x86/boot.rst, zero-page.rst): the setup
// header a kernel image carries and the 4 KiB boot_params ("zero page") a 32- or 64-bit entry
// finds through %esi/%rsi.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "boot/x86_64/e820.h"
#include "boot/x86_64/pvh.h"
#include "vmm/base/result.h"
#include "vmm/memory/guest_memory.h"

namespace vmm::boot::x86_64 {

/// boot.rst: "HdrS" read as a little-endian 32-bit word, and the boot sector's 0xAA55.
inline constexpr uint32_t kSetupHeaderMagic = 0x53726448;
inline constexpr uint16_t kBootFlag = 0xaa55;
/// type_of_loader for a boot loader without an assigned id.
inline constexpr uint8_t kLoaderUndefined = 0xff;

// loadflags (boot.rst "loadflags").
inline constexpr uint8_t kLoadedHigh = 1 << 0;  // protected-mode code loaded at 0x100000 or above
inline constexpr uint8_t kKaslrFlag = 1 << 1;   // kernel-internal
inline constexpr uint8_t kQuietFlag = 1 << 5;
inline constexpr uint8_t kKeepSegments = 1 << 6;  // obsolete
inline constexpr uint8_t kCanUseHeap = 1 << 7;    // heap_end_ptr is valid

// xloadflags (boot.rst "xloadflags", protocol 2.12+).
inline constexpr uint16_t kXlfKernel64 = 1 << 0;  // 64-bit entry at the load address + 0x200
inline constexpr uint16_t kXlfCanBeLoadedAbove4G = 1 << 1;

/// The offset of the setup header in a kernel image and in boot_params.
inline constexpr uint64_t kSetupHeaderOffset = 0x1f1;
/// The 64-bit entry point's offset from the start of the protected-mode kernel.
inline constexpr uint64_t kEntry64Offset = 0x200;
/// The most E820 entries boot_params holds.
inline constexpr uint64_t kBootE820MaxEntries = 128;

/// boot.rst "THE REAL-MODE KERNEL HEADER", up to protocol 2.15. Offsets in the comments are
/// those inside the image and inside boot_params.
struct [[gnu::packed]] SetupHeader {
    uint8_t setup_sects;             // 0x1f1: 512-byte setup sectors after the boot sector; 0 = 4
    uint16_t root_flags;             // 0x1f2
    uint32_t syssize;                // 0x1f4: protected-mode code size in 16-byte paragraphs
    uint16_t ram_size;               // 0x1f8: obsolete
    uint16_t vid_mode;               // 0x1fa
    uint16_t root_dev;               // 0x1fc
    uint16_t boot_flag;              // 0x1fe: 0xAA55
    uint16_t jump;                   // 0x200: a short jump; its second byte ends the header
    uint32_t header;                 // 0x202: "HdrS"
    uint16_t version;                // 0x206: protocol version, major << 8 | minor
    uint32_t realmode_swtch;         // 0x208
    uint16_t start_sys_seg;          // 0x20c: obsolete
    uint16_t kernel_version;         // 0x20e
    uint8_t type_of_loader;          // 0x210: written by the loader
    uint8_t loadflags;               // 0x211
    uint16_t setup_move_size;        // 0x212
    uint32_t code32_start;           // 0x214: the 32-bit entry point
    uint32_t ramdisk_image;          // 0x218: written by the loader
    uint32_t ramdisk_size;           // 0x21c: written by the loader
    uint32_t bootsect_kludge;        // 0x220: obsolete
    uint16_t heap_end_ptr;           // 0x224: written by the loader
    uint8_t ext_loader_ver;          // 0x226
    uint8_t ext_loader_type;         // 0x227
    uint32_t cmd_line_ptr;           // 0x228: written by the loader
    uint32_t initrd_addr_max;        // 0x22c: highest address the initrd may occupy (2.03+)
    uint32_t kernel_alignment;       // 0x230: alignment a relocatable kernel needs (2.05+)
    uint8_t relocatable_kernel;      // 0x234 (2.05+)
    uint8_t min_alignment;           // 0x235 (2.10+)
    uint16_t xloadflags;             // 0x236 (2.12+)
    uint32_t cmdline_size;           // 0x238: the longest command line, without its NUL (2.06+)
    uint32_t hardware_subarch;       // 0x23c (2.07+)
    uint64_t hardware_subarch_data;  // 0x240
    uint32_t payload_offset;         // 0x248 (2.08+)
    uint32_t payload_length;         // 0x24c
    uint64_t setup_data;             // 0x250 (2.09+)
    uint64_t pref_address;           // 0x258: preferred load address (2.10+)
    uint32_t init_size;              // 0x260: memory the kernel needs from its start (2.10+)
    uint32_t handover_offset;        // 0x264 (2.11+)
    uint32_t kernel_info_offset;     // 0x268 (2.15+)
};
static_assert(sizeof(SetupHeader) == 0x26c - kSetupHeaderOffset);

// Offsets in boot_params (boot.rst's table); the header starts at kSetupHeaderOffset.
static_assert(kSetupHeaderOffset + offsetof(SetupHeader, setup_sects) == 0x1f1);
static_assert(kSetupHeaderOffset + offsetof(SetupHeader, boot_flag) == 0x1fe);
static_assert(kSetupHeaderOffset + offsetof(SetupHeader, jump) == 0x200);
static_assert(kSetupHeaderOffset + offsetof(SetupHeader, header) == 0x202);
static_assert(kSetupHeaderOffset + offsetof(SetupHeader, version) == 0x206);
static_assert(kSetupHeaderOffset + offsetof(SetupHeader, type_of_loader) == 0x210);
static_assert(kSetupHeaderOffset + offsetof(SetupHeader, loadflags) == 0x211);
static_assert(kSetupHeaderOffset + offsetof(SetupHeader, code32_start) == 0x214);
static_assert(kSetupHeaderOffset + offsetof(SetupHeader, ramdisk_image) == 0x218);
static_assert(kSetupHeaderOffset + offsetof(SetupHeader, ramdisk_size) == 0x21c);
static_assert(kSetupHeaderOffset + offsetof(SetupHeader, heap_end_ptr) == 0x224);
static_assert(kSetupHeaderOffset + offsetof(SetupHeader, cmd_line_ptr) == 0x228);
static_assert(kSetupHeaderOffset + offsetof(SetupHeader, initrd_addr_max) == 0x22c);
static_assert(kSetupHeaderOffset + offsetof(SetupHeader, kernel_alignment) == 0x230);
static_assert(kSetupHeaderOffset + offsetof(SetupHeader, relocatable_kernel) == 0x234);
static_assert(kSetupHeaderOffset + offsetof(SetupHeader, xloadflags) == 0x236);
static_assert(kSetupHeaderOffset + offsetof(SetupHeader, cmdline_size) == 0x238);
static_assert(kSetupHeaderOffset + offsetof(SetupHeader, setup_data) == 0x250);
static_assert(kSetupHeaderOffset + offsetof(SetupHeader, pref_address) == 0x258);
static_assert(kSetupHeaderOffset + offsetof(SetupHeader, init_size) == 0x260);
static_assert(kSetupHeaderOffset + offsetof(SetupHeader, kernel_info_offset) == 0x268);

/// zero-page.rst: one E820 entry as the kernel reads it (20 bytes, packed).
struct [[gnu::packed]] BootE820Entry {
    uint64_t address;
    uint64_t size;
    uint32_t type;
};
static_assert(sizeof(BootE820Entry) == 20);

/// zero-page.rst: the 4 KiB boot_params. Only what a loader without a BIOS fills is named;
/// the rest (screen, APM, EDD, EFI, EDID ...) is padding that stays zero.
struct [[gnu::packed]] BootParams {
    uint8_t reserved_0[0xc0];             // 0x000: screen_info, apm, ist, acpi_rsdp_addr ...
    uint32_t ext_ramdisk_image;           // 0x0c0: bits 63:32 of the initrd address
    uint32_t ext_ramdisk_size;            // 0x0c4
    uint32_t ext_cmd_line_ptr;            // 0x0c8
    uint8_t reserved_cc[0x1e8 - 0xcc];    // 0x0cc: EDID, EFI info, alt_mem_k, scratch
    uint8_t e820_entries;                 // 0x1e8
    uint8_t eddbuf_entries;               // 0x1e9
    uint8_t edd_mbr_sig_buf_entries;      // 0x1ea
    uint8_t kbd_status;                   // 0x1eb
    uint8_t secure_boot;                  // 0x1ec
    uint8_t reserved_1ed[2];              // 0x1ed
    uint8_t sentinel;                     // 0x1ef: nonzero makes the kernel clear loader junk
    uint8_t reserved_1f0;                 // 0x1f0
    SetupHeader hdr;                      // 0x1f1
    uint8_t reserved_26c[0x2d0 - 0x26c];  // 0x26c: EDD MBR signatures
    BootE820Entry e820_table[kBootE820MaxEntries];  // 0x2d0
    uint8_t reserved_cd0[0x1000 - 0xcd0];           // 0xcd0: EDD info
};
static_assert(sizeof(BootParams) == 4096);
static_assert(offsetof(BootParams, ext_ramdisk_image) == 0x0c0);
static_assert(offsetof(BootParams, ext_ramdisk_size) == 0x0c4);
static_assert(offsetof(BootParams, ext_cmd_line_ptr) == 0x0c8);
static_assert(offsetof(BootParams, e820_entries) == 0x1e8);
static_assert(offsetof(BootParams, sentinel) == 0x1ef);
static_assert(offsetof(BootParams, hdr) == kSetupHeaderOffset);
static_assert(offsetof(BootParams, e820_table) == 0x2d0);

/// The header for a kernel entered at its 64-bit entry without one (an ELF vmlinux): the
/// magic numbers, protocol 2.12, XLF_KERNEL_64 and Linux's x86 command-line limit.
SetupHeader vmlinux_setup_header();

/// What the loader tells the kernel besides its own header.
struct BootParamsInputs {
    std::span<E820Entry const> e820;
    uint64_t cmdline_address;
    uint64_t cmdline_size;  // without the NUL
    std::optional<LoadedModule> initrd;
};

/// A zeroed boot_params holding the kernel's setup header with the loader's fields filled:
/// type_of_loader, loadflags, command line, initrd (split into low and ext_ halves) and the
/// E820 table. Fails (Host) with more than 128 E820 entries. Pure.
Result<BootParams> make_boot_params(SetupHeader const& header, BootParamsInputs const& inputs);

/// Writes boot_params at kBootParamsAddress and returns that address for %rsi/%esi.
Result<uint64_t> write_boot_params(GuestMemory const& memory, BootParams const& params);

}  // namespace vmm::boot::x86_64
