// SPDX-License-Identifier: Apache-2.0
// The PVH boot ABI (Xen's docs/misc/pvh.pandoc, arch-x86/hvm/start_info.h): the structures a
// PVH kernel finds through %ebx at its 32-bit entry.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "boot/x86_64/e820.h"
#include "vmm/base/result.h"
#include "vmm/memory/guest_memory.h"

namespace vmm::boot::x86_64 {

inline constexpr uint32_t kHvmStartMagic = 0x336ec578;

struct HvmStartInfo {
    uint32_t magic;
    uint32_t version;  // 1: memmap fields are valid
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr;
    uint32_t memmap_entries;
    uint32_t reserved;
};
static_assert(sizeof(HvmStartInfo) == 56);

struct HvmModlistEntry {
    uint64_t paddr;
    uint64_t size;
    uint64_t cmdline_paddr;
    uint64_t reserved;
};
static_assert(sizeof(HvmModlistEntry) == 32);

struct HvmMemmapEntry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
    uint32_t reserved;
};
static_assert(sizeof(HvmMemmapEntry) == 24);

struct LoadedModule {
    uint64_t address;
    uint64_t size;
};

/// Writes the command line, memory map, module list (the initrd as module 0) and the start
/// info at their fixed addresses (layout.h). Returns the start info's address for %ebx.
Result<uint64_t> write_pvh_start_info(GuestMemory const& memory, std::string const& cmdline,
                                      std::span<E820Entry const> e820,
                                      std::optional<LoadedModule> initrd);

}  // namespace vmm::boot::x86_64
