// SPDX-License-Identifier: Apache-2.0
// Initrd placement: as high in low RAM as it fits, page-aligned, above the kernel.
#pragma once

#include <cstdint>
#include <span>

#include "boot/x86_64/pvh.h"
#include "vmm/base/result.h"
#include "vmm/memory/guest_memory.h"

namespace vmm::boot {

/// Where an initrd of `size` bytes goes: the highest 4 KiB-aligned address whose range ends
/// within RAM below both `limit` and the MMIO hole, and starts at or above kernel_end.
Result<uint64_t> place_initrd(GuestMemory const& memory, uint64_t size, uint64_t kernel_end,
                              uint64_t limit);

/// place_initrd, then copies the data there.
Result<x86_64::LoadedModule> load_initrd(GuestMemory const& memory, std::span<uint8_t const> data,
                                         uint64_t kernel_end, uint64_t limit);

}  // namespace vmm::boot
