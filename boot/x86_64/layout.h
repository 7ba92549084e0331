// SPDX-License-Identifier: Apache-2.0
// The guest-physical address map of an x86_64 wisp machine.
//
//   0x0000_0500  GDT used at entry
//   0x0000_6000  hvm_start_info, module list; 0x7000 memory map (PVH boot ABI)
//   0x0002_0000  kernel command line
//   0x0009_fc00  end of usable low memory (EBDA and legacy ROM area above, not RAM)
//   0x0010_0000  kernel and initrd RAM, up to the MMIO hole
//   0xc000_0000  MMIO hole: 0xd000_0000 boot timer, device windows, IOAPIC/LAPIC, TSS
//   4 GiB        RAM beyond what fit below the hole
#pragma once

#include <cstdint>
#include <vector>

#include "vmm/base/result.h"
#include "vmm/memory/guest_memory.h"

namespace vmm::boot::x86_64 {

inline constexpr uint64_t kGdtAddress = 0x500;
inline constexpr uint64_t kStartInfoAddress = 0x6000;
inline constexpr uint64_t kModuleListAddress = 0x6040;
inline constexpr uint64_t kMemoryMapAddress = 0x7000;
inline constexpr uint64_t kMemoryMapMaxEntries = 128;
inline constexpr uint64_t kCmdlineAddress = 0x20000;
inline constexpr uint64_t kEbdaStart = 0x9fc00;
inline constexpr uint64_t kHighMemoryStart = 0x100000;
inline constexpr uint64_t kMmioHoleStart = 0xc000'0000;
inline constexpr uint64_t kMmioHoleEnd = 0x1'0000'0000;
inline constexpr uint64_t kIdentityMapAddress = 0xfffb'c000;
inline constexpr uint64_t kTssAddress = 0xfffb'd000;

inline constexpr uint64_t kMinMemory = 4ull << 20;
inline constexpr uint64_t kMaxMemory = 1ull << 40;

/// RAM regions for a machine of memory_size bytes: below the MMIO hole, the rest above 4 GiB.
/// Fails (Usage) outside [kMinMemory, kMaxMemory] or when not a multiple of 4 KiB.
Result<std::vector<GuestMemory::RegionSpec>> memory_layout(uint64_t memory_size);

}  // namespace vmm::boot::x86_64
