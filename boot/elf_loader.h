// SPDX-License-Identifier: Apache-2.0
// ELF kernel loading: a vmlinux or a freestanding test guest, entered through its PVH note.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "vmm/base/result.h"
#include "vmm/memory/guest_memory.h"

namespace vmm::boot {

/// Xen's public/elfnote.h: the 32-bit physical entry point of a PVH kernel.
inline constexpr uint32_t kElfNotePhys32Entry = 18;

struct ElfSegment {
    uint64_t file_offset;
    uint64_t file_size;
    uint64_t memory_size;
    uint64_t physical_address;
};

struct ElfKernel {
    uint64_t pvh_entry;
    std::vector<ElfSegment> segments;
    uint64_t end;  // first byte past the highest segment
};

/// Validates an ELF32 or ELF64 x86 executable: headers and every segment inside the file,
/// no arithmetic overflow, segments at or above 1 MiB, and a PVH entry note. Pure: no I/O.
Result<ElfKernel> parse_elf_kernel(std::span<uint8_t const> image);

/// parse_elf_kernel, then copies each segment to its physical address and zeroes the rest of
/// its memory size. Fails (Image) when a segment does not fit in guest RAM.
Result<ElfKernel> load_elf_kernel(GuestMemory const& memory, std::span<uint8_t const> image);

}  // namespace vmm::boot
