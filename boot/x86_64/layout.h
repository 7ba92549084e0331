// SPDX-License-Identifier: Apache-2.0
// The guest-physical address map of an x86_64 wisp machine.
//
//   0x0000_0500  GDT used at entry
//   0x0000_6000  hvm_start_info, module list; 0x7000 memory map (PVH boot ABI)
//   0x0000_8000  boot_params, the "zero page" (Linux boot protocol)
//   0x0000_9000  identity page tables for the 64-bit entry: PML4, PDPT at 0xa000, four page
//                directories 0xb000-0xefff (2 MiB pages, 0-4 GiB)
//   0x0002_0000  kernel command line
//   0x0009_fc00  end of usable low memory (EBDA and legacy ROM area above, not RAM)
//   0x000f_0000  MP floating pointer + configuration table (BIOS area that Linux scans;
//                reserved in the E820 like the rest of 640 KiB-1 MiB)
//   0x0010_0000  kernel and initrd RAM, up to the MMIO hole
//   0xc000_0000  MMIO hole: 0xd000_0000 boot timer; 0xd000_1000 virtio-mmio windows, one
//                per 4 KiB page (0x200 used); IOAPIC/LAPIC, TSS
//   4 GiB        RAM beyond what fit below the hole
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vmm/base/result.h"
#include "vmm/memory/guest_memory.h"

namespace vmm::boot::x86_64 {

inline constexpr uint64_t kGdtAddress = 0x500;
inline constexpr uint64_t kStartInfoAddress = 0x6000;
inline constexpr uint64_t kModuleListAddress = 0x6040;
inline constexpr uint64_t kMemoryMapAddress = 0x7000;
inline constexpr uint64_t kMemoryMapMaxEntries = 128;
inline constexpr uint64_t kBootParamsAddress = 0x8000;
inline constexpr uint64_t kPml4Address = 0x9000;
inline constexpr uint64_t kPdptAddress = 0xa000;
inline constexpr uint64_t kPageDirectoryAddress = 0xb000;  // four of them, one per GiB
inline constexpr uint64_t kPageDirectoryCount = 4;
inline constexpr uint64_t kCmdlineAddress = 0x20000;
inline constexpr uint64_t kEbdaStart = 0x9fc00;
inline constexpr uint64_t kMpTableAddress = 0xf0000;  // the area ends at kHighMemoryStart
inline constexpr uint64_t kHighMemoryStart = 0x100000;
inline constexpr uint64_t kMmioHoleStart = 0xc000'0000;
inline constexpr uint64_t kMmioHoleEnd = 0x1'0000'0000;
/// virtio-mmio device n's window is at kVirtioMmioStart + n * kVirtioMmioStride (above the
/// boot timer's page at 0xd000_0000); there are as many windows as kVirtioIrqs entries.
inline constexpr uint64_t kVirtioMmioStart = 0xd000'1000;
inline constexpr uint64_t kVirtioMmioStride = 0x1000;
/// The ISA IRQs (PIC and IOAPIC pins, identity-mapped) free for virtio devices, in the order
/// they are handed out: not 0 (PIT), 1 (i8042), 2 (cascade), 3/4 (COM2/COM1), 8 (RTC),
/// 13 (FPU), 14/15 (IDE, whose drivers probe them).
inline constexpr uint32_t kVirtioIrqs[] = {5, 6, 7, 9, 10, 11, 12};
inline constexpr uint64_t kIdentityMapAddress = 0xfffb'c000;
inline constexpr uint64_t kTssAddress = 0xfffb'd000;

inline constexpr uint64_t kMinMemory = 4ull << 20;
inline constexpr uint64_t kMaxMemory = 1ull << 40;

/// Writes the NUL-terminated kernel command line at kCmdlineAddress and returns that address.
/// Fails (Usage) when it would not end below the EBDA.
Result<uint64_t> write_cmdline(GuestMemory const& memory, std::string const& cmdline);

/// RAM regions for a machine of memory_size bytes: below the MMIO hole, the rest above 4 GiB.
/// Fails (Usage) outside [kMinMemory, kMaxMemory] or when not a multiple of 4 KiB.
Result<std::vector<GuestMemory::RegionSpec>> memory_layout(uint64_t memory_size);

}  // namespace vmm::boot::x86_64
