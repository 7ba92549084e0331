// SPDX-License-Identifier: Apache-2.0
// ELF kernel parsing and loading (System V gABI; PVH note per Xen's elfnote.h).
#include "boot/elf_loader.h"

#include <elf.h>

#include <algorithm>
#include <cstring>

#include "boot/x86_64/layout.h"

namespace vmm::boot {

namespace {

// Copies a T out of image at offset, or fails when it does not fit.
template <typename T>
Result<T> read_at(std::span<uint8_t const> image, uint64_t offset, char const* what) {
    if (!range_contains(0, image.size(), offset, sizeof(T)))
        return fail(ErrorKind::Image, fmt::format("the kernel is truncated: its {} at offset {:#x} "
                                                  "lies past the end of the file",
                                                  what, offset));
    T value;
    std::memcpy(&value, image.data() + offset, sizeof(T));
    return value;
}

bool aligned4(uint64_t v) { return (v & 3) == 0; }

// Walks the notes of one PT_NOTE segment for Xen's PHYS32_ENTRY.
Result<std::optional<uint64_t>> find_pvh_note(std::span<uint8_t const> notes) {
    uint64_t offset = 0;
    while (notes.size() - offset >= 12) {
        uint32_t header[3];
        std::memcpy(header, notes.data() + offset, sizeof header);
        uint64_t const name_size = header[0], desc_size = header[1], type = header[2];
        uint64_t const name_offset = offset + 12;
        uint64_t const desc_offset = name_offset + ((name_size + 3) & ~uint64_t{3});
        uint64_t const next = desc_offset + ((desc_size + 3) & ~uint64_t{3});
        if (desc_offset > notes.size() || next > notes.size() || next < offset)
            return fail(ErrorKind::Image, "the kernel has a malformed ELF note");
        if (type == kElfNotePhys32Entry && name_size == 4 &&
            std::memcmp(notes.data() + name_offset, "Xen", 4) == 0) {
            if (desc_size == 4) {
                uint32_t entry;
                std::memcpy(&entry, notes.data() + desc_offset, 4);
                return std::optional<uint64_t>(entry);
            }
            if (desc_size == 8) {
                uint64_t entry;
                std::memcpy(&entry, notes.data() + desc_offset, 8);
                return std::optional<uint64_t>(entry);
            }
            return fail(ErrorKind::Image, "the kernel's PVH entry note has a bad size");
        }
        offset = next;
        if (!aligned4(offset)) break;
    }
    return std::optional<uint64_t>();
}

struct Header {
    bool is64;
    uint64_t entry;
    uint64_t phoff;
    uint64_t phentsize;
    uint64_t phnum;
};

Result<Header> parse_header(std::span<uint8_t const> image) {
    if (image.size() < EI_NIDENT || std::memcmp(image.data(), ELFMAG, SELFMAG) != 0)
        return fail(ErrorKind::Image, "not an ELF kernel (no ELF magic): pass a vmlinux");
    if (image[EI_DATA] != ELFDATA2LSB)
        return fail(ErrorKind::Image, "the ELF kernel is not little-endian");
    if (image[EI_CLASS] == ELFCLASS64) {
        auto eh = TRY(read_at<Elf64_Ehdr>(image, 0, "ELF header"));
        if (eh.e_machine != EM_X86_64 || eh.e_type != ET_EXEC)
            return fail(ErrorKind::Image, "the ELF file is not an x86_64 executable");
        if (eh.e_phentsize != sizeof(Elf64_Phdr))
            return fail(ErrorKind::Image, "the ELF kernel has an unexpected program header size");
        return Header{true, eh.e_entry, eh.e_phoff, eh.e_phentsize, eh.e_phnum};
    }
    if (image[EI_CLASS] == ELFCLASS32) {
        auto eh = TRY(read_at<Elf32_Ehdr>(image, 0, "ELF header"));
        if (eh.e_machine != EM_386 || eh.e_type != ET_EXEC)
            return fail(ErrorKind::Image, "the ELF file is not an x86 executable");
        if (eh.e_phentsize != sizeof(Elf32_Phdr))
            return fail(ErrorKind::Image, "the ELF kernel has an unexpected program header size");
        return Header{false, eh.e_entry, eh.e_phoff, eh.e_phentsize, eh.e_phnum};
    }
    return fail(ErrorKind::Image, "the ELF kernel has an unknown class");
}

Result<Elf64_Phdr> program_header(std::span<uint8_t const> image, Header const& h, uint64_t i) {
    uint64_t const offset = h.phoff + i * h.phentsize;  // phnum <= 65535, phentsize <= 56
    if (offset < h.phoff) return fail(ErrorKind::Image, "the ELF program headers overflow");
    if (h.is64) return read_at<Elf64_Phdr>(image, offset, "program header");
    auto p = TRY(read_at<Elf32_Phdr>(image, offset, "program header"));
    Elf64_Phdr wide{};
    wide.p_type = p.p_type;
    wide.p_offset = p.p_offset;
    wide.p_paddr = p.p_paddr;
    wide.p_filesz = p.p_filesz;
    wide.p_memsz = p.p_memsz;
    return wide;
}

}  // namespace

Result<ElfKernel> parse_elf_kernel(std::span<uint8_t const> image) {
    Header const header = TRY(parse_header(image));
    ElfKernel kernel{std::nullopt, header.entry, header.is64, {}, 0};
    std::optional<uint64_t> entry;
    for (uint64_t i = 0; i < header.phnum; ++i) {
        Elf64_Phdr const ph = TRY(program_header(image, header, i));
        if (!range_contains(0, image.size(), ph.p_offset, ph.p_filesz))
            return fail(ErrorKind::Image,
                        fmt::format("ELF segment {} lies past the end of the file "
                                    "(offset {:#x}, size {:#x}, file {:#x}): the file is truncated",
                                    i, ph.p_offset, ph.p_filesz, image.size()));
        if (ph.p_type == PT_NOTE && !entry) {
            entry = TRY(find_pvh_note(image.subspan(ph.p_offset, ph.p_filesz)));
            continue;
        }
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
        if (ph.p_filesz > ph.p_memsz)
            return fail(ErrorKind::Image, fmt::format("ELF segment {} has file size > memory size", i));
        if (ph.p_paddr + ph.p_memsz < ph.p_paddr)
            return fail(ErrorKind::Image, fmt::format("ELF segment {} wraps the address space", i));
        if (ph.p_paddr < x86_64::kHighMemoryStart)
            return fail(ErrorKind::Image,
                        fmt::format("ELF segment {} loads at {:#x}, below 1 MiB where wisp keeps "
                                    "boot structures: link the kernel at 1 MiB or higher",
                                    i, ph.p_paddr));
        kernel.segments.push_back({ph.p_offset, ph.p_filesz, ph.p_memsz, ph.p_paddr});
        kernel.end = std::max(kernel.end, ph.p_paddr + ph.p_memsz);
    }
    if (kernel.segments.empty())
        return fail(ErrorKind::Image, "the ELF kernel has no loadable segment");
    if (entry) {
        if (*entry >= x86_64::kMmioHoleStart)
            return fail(ErrorKind::Image, fmt::format("the PVH entry {:#x} is not in RAM", *entry));
        kernel.pvh_entry = *entry;
        return kernel;
    }
    // Without the note only Linux's 64-bit entry is left, at e_entry (a physical address in a
    // vmlinux); a 32-bit ELF has no boot_params entry wisp could use.
    if (!header.is64)
        return fail(ErrorKind::Image,
                    "the 32-bit ELF kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): build "
                    "it with CONFIG_PVH=y, or boot a 64-bit vmlinux or a bzImage");
    bool const in_segment =
        std::any_of(kernel.segments.begin(), kernel.segments.end(), [&](ElfSegment const& s) {
            return range_contains(s.physical_address, s.memory_size, header.entry, 1);
        });
    if (!in_segment || header.entry >= x86_64::kMmioHoleStart)
        return fail(ErrorKind::Image,
                    fmt::format("the ELF kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) "
                                "and its e_entry {:#x} is not a physical address inside one of its "
                                "segments below {:#x}: build it with CONFIG_PVH=y, or boot its "
                                "bzImage",
                                header.entry, x86_64::kMmioHoleStart));
    return kernel;
}

Result<ElfKernel> load_elf_kernel(GuestMemory const& memory, std::span<uint8_t const> image) {
    ElfKernel kernel = TRY(parse_elf_kernel(image));
    for (auto const& segment : kernel.segments) {
        auto target = memory.slice(GuestAddress{segment.physical_address}, segment.memory_size);
        if (!target)
            return fail(ErrorKind::Image,
                        fmt::format("the kernel needs guest memory at {:#x}-{:#x}, beyond the "
                                    "{} MiB of guest RAM: give the guest more --memory",
                                    segment.physical_address,
                                    segment.physical_address + segment.memory_size,
                                    memory.total_size() >> 20));
        std::memcpy(target->data(), image.data() + segment.file_offset, segment.file_size);
        std::memset(target->data() + segment.file_size, 0, segment.memory_size - segment.file_size);
    }
    uint64_t const entry = kernel.pvh_entry.value_or(kernel.entry);
    if (!memory.slice(GuestAddress{entry}, 1))
        return fail(ErrorKind::Image,
                    fmt::format("the {} entry {:#x} lies outside guest RAM: give the guest more "
                                "--memory",
                                kernel.pvh_entry ? "PVH" : "64-bit", entry));
    return kernel;
}

}  // namespace vmm::boot
