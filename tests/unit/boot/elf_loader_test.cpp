// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <elf.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "boot/elf_loader.h"
#include "vmm/base/size.h"

using namespace vmm;
using namespace vmm::boot;

namespace {

constexpr uint64_t kLoad = 0x100000;       // 1 MiB
constexpr uint64_t kEntry = 0x100040;      // PVH entry, inside the segment
constexpr uint64_t kElfEntry = 0x1000000;  // e_entry, deliberately not the PVH entry
constexpr uint64_t kPayloadOffset = 0x200;

// A synthetic kernel: ELF header, program headers [PT_LOAD, PT_NOTE], one note, then the
// payload at kPayloadOffset (always the last bytes of the file).
struct Options {
    bool is64 = true;
    uint16_t machine = 0;  // 0: EM_X86_64 or EM_386 by class
    uint16_t type = ET_EXEC;
    std::optional<uint64_t> phoff{};
    std::optional<uint16_t> phnum{};
    uint64_t paddr = kLoad;
    uint64_t filesz = 0x40;
    uint64_t memsz = 0x2000;
    std::optional<uint64_t> load_offset{};
    bool note = true;
    bool note_first = false;   // PT_NOTE before PT_LOAD
    char const* note_name = "Xen";
    uint32_t note_name_size = 4;
    uint32_t note_type = kElfNotePhys32Entry;
    uint32_t desc_size = 4;    // declared; the bytes written are 4 or 8
    uint64_t pvh_entry = kEntry;
    bool other_note_first = false;  // a GNU build-id note before the Xen one
    uint64_t elf_entry = kElfEntry;
};

struct Image {
    std::vector<uint8_t> bytes;
    uint64_t load_ph;  // offset of the PT_LOAD program header
    uint64_t note_ph;
};

template <typename T>
void put(std::vector<uint8_t>& bytes, uint64_t offset, T const& value) {
    REQUIRE(offset + sizeof value <= bytes.size());
    std::memcpy(bytes.data() + offset, &value, sizeof value);
}

template <typename T>
T get(std::vector<uint8_t> const& bytes, uint64_t offset) {
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof value);
    return value;
}

uint8_t payload_byte(uint64_t i) { return static_cast<uint8_t>(0xa0 ^ (i * 7)); }

std::vector<uint8_t> make_notes(Options const& o) {
    std::vector<uint8_t> notes;
    auto word = [&](uint32_t v) {
        uint8_t b[4];
        std::memcpy(b, &v, 4);
        notes.insert(notes.end(), b, b + 4);
    };
    if (o.other_note_first) {
        word(4);
        word(8);
        word(NT_GNU_BUILD_ID);
        notes.insert(notes.end(), {'G', 'N', 'U', 0});
        for (int i = 0; i < 8; ++i) notes.push_back(0x11);
    }
    word(o.note_name_size);
    word(o.desc_size);
    word(o.note_type);
    std::array<uint8_t, 4> name{};
    std::memcpy(name.data(), o.note_name, std::min<size_t>(4, std::strlen(o.note_name) + 1));
    notes.insert(notes.end(), name.begin(), name.end());
    uint8_t desc[8];
    std::memcpy(desc, &o.pvh_entry, 8);
    notes.insert(notes.end(), desc, desc + (o.desc_size == 8 ? 8 : 4));
    return notes;
}

Image make_elf(Options const& o = {}) {
    uint64_t const ehsize = o.is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
    uint64_t const phentsize = o.is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
    uint16_t const phnum = o.phnum.value_or(o.note ? 2 : 1);
    uint64_t const phoff = o.phoff.value_or(ehsize);
    uint64_t const first_ph = ehsize;
    uint64_t const notes_offset = ehsize + 2 * phentsize;
    std::vector<uint8_t> const notes = make_notes(o);
    REQUIRE(notes_offset + notes.size() <= kPayloadOffset);

    Image image;
    image.bytes.assign(kPayloadOffset + o.filesz, 0);
    for (uint64_t i = 0; i < o.filesz; ++i) image.bytes[kPayloadOffset + i] = payload_byte(i);
    std::memcpy(image.bytes.data() + notes_offset, notes.data(), notes.size());
    image.load_ph = first_ph + (o.note && o.note_first ? phentsize : 0);
    image.note_ph = first_ph + (o.note_first ? 0 : phentsize);
    uint64_t const load_offset = o.load_offset.value_or(kPayloadOffset);

    if (o.is64) {
        Elf64_Ehdr eh{};
        std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
        eh.e_ident[EI_CLASS] = ELFCLASS64;
        eh.e_ident[EI_DATA] = ELFDATA2LSB;
        eh.e_ident[EI_VERSION] = EV_CURRENT;
        eh.e_type = o.type;
        eh.e_machine = o.machine ? o.machine : EM_X86_64;
        eh.e_version = EV_CURRENT;
        eh.e_entry = o.elf_entry;
        eh.e_phoff = phoff;
        eh.e_ehsize = sizeof(Elf64_Ehdr);
        eh.e_phentsize = sizeof(Elf64_Phdr);
        eh.e_phnum = phnum;
        put(image.bytes, 0, eh);
        Elf64_Phdr load{};
        load.p_type = PT_LOAD;
        load.p_flags = PF_R | PF_X;
        load.p_offset = load_offset;
        load.p_vaddr = 0xffffffff81000000;
        load.p_paddr = o.paddr;
        load.p_filesz = o.filesz;
        load.p_memsz = o.memsz;
        load.p_align = 0x1000;
        put(image.bytes, image.load_ph, load);
        if (o.note) {
            Elf64_Phdr note{};
            note.p_type = PT_NOTE;
            note.p_offset = notes_offset;
            note.p_filesz = notes.size();
            note.p_align = 4;
            put(image.bytes, image.note_ph, note);
        }
    } else {
        Elf32_Ehdr eh{};
        std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
        eh.e_ident[EI_CLASS] = ELFCLASS32;
        eh.e_ident[EI_DATA] = ELFDATA2LSB;
        eh.e_ident[EI_VERSION] = EV_CURRENT;
        eh.e_type = o.type;
        eh.e_machine = o.machine ? o.machine : EM_386;
        eh.e_version = EV_CURRENT;
        eh.e_entry = static_cast<uint32_t>(o.elf_entry);
        eh.e_phoff = static_cast<uint32_t>(phoff);
        eh.e_ehsize = sizeof(Elf32_Ehdr);
        eh.e_phentsize = sizeof(Elf32_Phdr);
        eh.e_phnum = phnum;
        put(image.bytes, 0, eh);
        Elf32_Phdr load{};
        load.p_type = PT_LOAD;
        load.p_flags = PF_R | PF_X;
        load.p_offset = static_cast<uint32_t>(load_offset);
        load.p_vaddr = static_cast<uint32_t>(o.paddr);
        load.p_paddr = static_cast<uint32_t>(o.paddr);
        load.p_filesz = static_cast<uint32_t>(o.filesz);
        load.p_memsz = static_cast<uint32_t>(o.memsz);
        load.p_align = 0x1000;
        put(image.bytes, image.load_ph, load);
        if (o.note) {
            Elf32_Phdr note{};
            note.p_type = PT_NOTE;
            note.p_offset = static_cast<uint32_t>(notes_offset);
            note.p_filesz = static_cast<uint32_t>(notes.size());
            note.p_align = 4;
            put(image.bytes, image.note_ph, note);
        }
    }
    return image;
}

ElfKernel parsed(std::vector<uint8_t> const& bytes) {
    auto r = parse_elf_kernel(bytes);
    INFO((r ? std::string() : r.error().message()));
    REQUIRE(r.has_value());
    return *r;
}

// Parsing must fail with ErrorKind::Image; returns the message.
std::string refused(std::span<uint8_t const> bytes) {
    auto r = parse_elf_kernel(bytes);
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

TEST_CASE("A valid ELF64 PVH kernel parses: entry from the note, segments, end", "[boot][elf]") {
    Image const image = make_elf();
    ElfKernel const kernel = parsed(image.bytes);
    CHECK(kernel.pvh_entry == kEntry);
    REQUIRE(kernel.segments.size() == 1);
    CHECK(kernel.segments[0].file_offset == kPayloadOffset);
    CHECK(kernel.segments[0].file_size == 0x40);
    CHECK(kernel.segments[0].memory_size == 0x2000);
    CHECK(kernel.segments[0].physical_address == kLoad);
    CHECK(kernel.end == kLoad + 0x2000);
}

TEST_CASE("A valid ELF32 PVH kernel parses: entry from the note, segments, end", "[boot][elf]") {
    Image const image = make_elf({.is64 = false});
    ElfKernel const kernel = parsed(image.bytes);
    CHECK(kernel.pvh_entry == kEntry);
    REQUIRE(kernel.segments.size() == 1);
    CHECK(kernel.segments[0].file_offset == kPayloadOffset);
    CHECK(kernel.segments[0].file_size == 0x40);
    CHECK(kernel.segments[0].memory_size == 0x2000);
    CHECK(kernel.segments[0].physical_address == kLoad);
    CHECK(kernel.end == kLoad + 0x2000);
}

TEST_CASE("The PVH note may carry an 8-byte entry and follow other notes", "[boot][elf]") {
    CHECK(parsed(make_elf({.desc_size = 8}).bytes).pvh_entry == kEntry);
    CHECK(parsed(make_elf({.is64 = false, .desc_size = 8}).bytes).pvh_entry == kEntry);
    CHECK(parsed(make_elf({.other_note_first = true}).bytes).pvh_entry == kEntry);
    CHECK(parsed(make_elf({.note_first = true}).bytes).pvh_entry == kEntry);
}

TEST_CASE("Loading copies the segment bytes and zeroes the bss", "[boot][elf]") {
    for (bool is64 : {true, false}) {
        INFO("is64 " << is64);
        Image const image = make_elf({.is64 = is64, .filesz = 0x40, .memsz = 0x2000});
        GuestMemory memory = make_memory(2_MiB);
        auto before = memory.slice(GuestAddress{kLoad}, 0x3000);
        REQUIRE(before.has_value());
        std::memset(before->data(), 0xee, before->size());

        auto r = load_elf_kernel(memory, image.bytes);
        INFO((r ? std::string() : r.error().message()));
        REQUIRE(r.has_value());
        CHECK(r->pvh_entry == kEntry);
        auto loaded = memory.slice(GuestAddress{kLoad}, 0x3000);
        REQUIRE(loaded.has_value());
        for (uint64_t i = 0; i < 0x40; ++i) {
            INFO("byte " << i);
            REQUIRE((*loaded)[i] == payload_byte(i));
        }
        for (uint64_t i = 0x40; i < 0x2000; ++i) {
            INFO("bss byte " << i);
            REQUIRE((*loaded)[i] == 0);
        }
        // Past memsz nothing is touched.
        CHECK((*loaded)[0x2000] == 0xee);
        CHECK((*loaded)[0x2fff] == 0xee);
        auto below = memory.read_obj<uint8_t>(GuestAddress{kLoad - 1});
        REQUIRE(below.has_value());
        CHECK(*below == 0);
    }
}

TEST_CASE("Loading refuses a segment outside guest memory and names --memory", "[boot][elf]") {
    Image const image = make_elf({.memsz = 0x2000});
    GuestMemory memory = make_memory(1_MiB + 4_KiB);  // the segment ends at 1 MiB + 8 KiB
    auto r = load_elf_kernel(memory, image.bytes);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind() == ErrorKind::Image);
    CHECK_THAT(r.error().message(), Catch::Contains("--memory"));

    Image const high = make_elf({.paddr = 16_MiB, .pvh_entry = 16_MiB});
    GuestMemory small = make_memory(4_MiB);
    auto h = load_elf_kernel(small, high.bytes);
    REQUIRE_FALSE(h.has_value());
    CHECK(h.error().kind() == ErrorKind::Image);
    CHECK_THAT(h.error().message(), Catch::Contains("--memory"));
}

TEST_CASE("Loading refuses a PVH entry outside guest memory", "[boot][elf]") {
    Image const image = make_elf({.pvh_entry = 3_MiB});
    CHECK(parsed(image.bytes).pvh_entry == 3_MiB);
    GuestMemory memory = make_memory(2_MiB);
    auto r = load_elf_kernel(memory, image.bytes);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind() == ErrorKind::Image);
}

TEST_CASE("Parsing refuses empty, random and non-ELF input", "[boot][elf]") {
    refused({});
    std::vector<uint8_t> const tiny{0x7f, 'E', 'L'};
    refused(tiny);
    CHECK_THAT(refused(std::vector<uint8_t>(4096, 0)), Catch::Contains("ELF"));

    std::mt19937 rng(12345);
    for (int round = 0; round < 64; ++round) {
        std::vector<uint8_t> noise(1 + rng() % 8192);
        for (auto& b : noise) b = static_cast<uint8_t>(rng());
        refused(noise);
        // The same noise behind an ELF magic.
        if (noise.size() >= 4) {
            std::memcpy(noise.data(), ELFMAG, SELFMAG);
            refused(noise);
        }
    }
}

TEST_CASE("Parsing refuses a truncated ELF header and every truncation of a kernel",
          "[boot][elf]") {
    for (bool is64 : {true, false}) {
        INFO("is64 " << is64);
        Image const image = make_elf({.is64 = is64});
        std::span<uint8_t const> const all(image.bytes);
        refused(all.first(is64 ? sizeof(Elf64_Ehdr) - 1 : sizeof(Elf32_Ehdr) - 1));
        refused(all.first(EI_NIDENT));
        // The payload is last, so every proper prefix is missing something.
        for (size_t size = 0; size < image.bytes.size(); ++size) {
            INFO("size " << size);
            refused(all.first(size));
        }
    }
}

TEST_CASE("Parsing refuses program headers past the end of the file", "[boot][elf]") {
    for (bool is64 : {true, false}) {
        INFO("is64 " << is64);
        Image const image = make_elf({.is64 = is64});
        uint64_t const size = image.bytes.size();
        CHECK_THAT(refused(make_elf({.is64 = is64, .phoff = size}).bytes),
                   Catch::Contains("truncated"));
        refused(make_elf({.is64 = is64, .phoff = size - 8}).bytes);
        refused(make_elf({.is64 = is64, .phnum = 0xffff}).bytes);
        refused(make_elf({.is64 = is64, .phoff = 0xffff'fff0}).bytes);
    }
}

TEST_CASE("Parsing refuses a huge e_phoff without overflowing", "[boot][elf]") {
    for (uint64_t phoff : {UINT64_MAX, UINT64_MAX - 8, UINT64_MAX - sizeof(Elf64_Phdr) + 1,
                           uint64_t{1} << 63})
        refused(make_elf({.phoff = phoff}).bytes);
    refused(make_elf({.phoff = UINT64_MAX - 100, .phnum = 3}).bytes);
}

TEST_CASE("Parsing refuses a segment whose file range lies past the end of the file",
          "[boot][elf]") {
    for (bool is64 : {true, false}) {
        INFO("is64 " << is64);
        uint64_t const size = make_elf({.is64 = is64}).bytes.size();
        CHECK_THAT(refused(make_elf({.is64 = is64, .load_offset = size - 0x10}).bytes),
                   Catch::Contains("truncated"));
        refused(make_elf({.is64 = is64, .load_offset = size}).bytes);
        refused(make_elf({.is64 = is64, .load_offset = 0xffff'ffff}).bytes);
    }
    refused(make_elf({.load_offset = UINT64_MAX}).bytes);
    refused(make_elf({.load_offset = UINT64_MAX - 0x3f}).bytes);  // offset + filesz == 2^64

    // The same for filesz itself, made huge after building.
    Image image = make_elf();
    auto ph = get<Elf64_Phdr>(image.bytes, image.load_ph);
    ph.p_filesz = UINT64_MAX;
    ph.p_memsz = UINT64_MAX;
    put(image.bytes, image.load_ph, ph);
    refused(image.bytes);
}

TEST_CASE("Parsing refuses a segment with file size greater than memory size", "[boot][elf]") {
    refused(make_elf({.filesz = 0x40, .memsz = 0x3f}).bytes);
    refused(make_elf({.is64 = false, .filesz = 0x40, .memsz = 0x20}).bytes);
    CHECK(parsed(make_elf({.filesz = 0x40, .memsz = 0x40}).bytes).end == kLoad + 0x40);
}

TEST_CASE("Parsing refuses a segment whose address range wraps", "[boot][elf]") {
    CHECK_THAT(refused(make_elf({.paddr = UINT64_MAX - 0xfff, .memsz = 0x2000}).bytes),
               Catch::Contains("wraps"));
    refused(make_elf({.paddr = UINT64_MAX, .memsz = 0x40}).bytes);
    refused(make_elf({.paddr = 0x8000'0000'0000'0000, .memsz = 0x8000'0000'0000'0000}).bytes);
}

TEST_CASE("Parsing refuses a segment below 1 MiB", "[boot][elf]") {
    for (bool is64 : {true, false}) {
        INFO("is64 " << is64);
        CHECK_THAT(refused(make_elf({.is64 = is64, .paddr = 0x80000}).bytes),
                   Catch::Contains("1 MiB"));
        refused(make_elf({.is64 = is64, .paddr = 0}).bytes);
        refused(make_elf({.is64 = is64, .paddr = kLoad - 0x1000}).bytes);
    }
}

TEST_CASE("Parsing refuses an ELF32 kernel without a PVH note", "[boot][elf]") {
    CHECK_THAT(refused(make_elf({.is64 = false, .note = false}).bytes), Catch::Contains("PVH"));
    // A note of the right type but another owner, or Xen's note of another type.
    refused(make_elf({.is64 = false, .note_name = "GNU"}).bytes);
    refused(make_elf({.is64 = false, .note_type = kElfNotePhys32Entry + 1}).bytes);
    refused(make_elf({.is64 = false, .note_type = 1, .other_note_first = true}).bytes);
    // Even with an e_entry inside its segment: a 32-bit ELF has no boot_params entry.
    refused(make_elf({.is64 = false, .note = false, .elf_entry = kEntry}).bytes);
}

TEST_CASE("An ELF64 kernel without a PVH note parses with its e_entry for the 64-bit entry",
          "[boot][elf][boot_params]") {
    ElfKernel const kernel = parsed(make_elf({.note = false, .elf_entry = kEntry}).bytes);
    CHECK_FALSE(kernel.pvh_entry.has_value());
    CHECK(kernel.entry == kEntry);
    CHECK(kernel.is64);
    REQUIRE(kernel.segments.size() == 1);
    CHECK(kernel.end == kLoad + 0x2000);
    // Notes that are not Xen's entry note change nothing.
    CHECK_FALSE(parsed(make_elf({.note_name = "GNU", .elf_entry = kEntry}).bytes).pvh_entry);
    CHECK_FALSE(parsed(make_elf({.note_type = 1, .other_note_first = true, .elf_entry = kEntry})
                           .bytes)
                    .pvh_entry);
    // With the note, PVH wins and e_entry is only recorded.
    ElfKernel const pvh = parsed(make_elf({.elf_entry = kEntry}).bytes);
    CHECK(pvh.pvh_entry == kEntry);
    CHECK(pvh.is64);
    CHECK_FALSE(parsed(make_elf({.is64 = false}).bytes).is64);

    GuestMemory memory = make_memory(2_MiB);
    auto r = load_elf_kernel(memory, make_elf({.note = false, .elf_entry = kLoad + 0x1fff}).bytes);
    REQUIRE(r.has_value());
    CHECK(r->entry == kLoad + 0x1fff);
}

TEST_CASE("Parsing refuses an ELF64 without a PVH note whose e_entry is not in a segment",
          "[boot][elf]") {
    auto const message = refused(make_elf({.note = false}).bytes);  // e_entry 16 MiB
    CHECK_THAT(message, Catch::Contains("no PVH entry note"));
    CHECK_THAT(message, Catch::Contains("e_entry"));
    for (uint64_t entry : {uint64_t{0}, kLoad - 1, kLoad + 0x2000, uint64_t{0xc000'0000},
                           uint64_t{0xffff'ffff'8100'0000}, UINT64_MAX}) {
        INFO("e_entry " << entry);
        refused(make_elf({.note = false, .elf_entry = entry}).bytes);
    }
    // The same with a segment that reaches the MMIO hole.
    refused(make_elf({.paddr = 0xbfff'f000, .memsz = 0x2000, .note = false,
                      .elf_entry = 0xc000'0000})
                .bytes);
}

TEST_CASE("Parsing refuses a malformed PVH note", "[boot][elf]") {
    // A descriptor size that runs past the note segment.
    CHECK_THAT(refused(make_elf({.desc_size = 0x100}).bytes), Catch::Contains("note"));
    refused(make_elf({.desc_size = UINT32_MAX}).bytes);
    refused(make_elf({.is64 = false, .desc_size = 0x100}).bytes);
    // A name size that runs past the note segment.
    refused(make_elf({.note_name_size = UINT32_MAX}).bytes);
    refused(make_elf({.note_name_size = 0x1000}).bytes);
    // Xen's entry note with a descriptor neither 4 nor 8 bytes long.
    refused(make_elf({.desc_size = 2}).bytes);
    refused(make_elf({.desc_size = 0}).bytes);
    // A PVH entry that is not in RAM below the MMIO hole.
    refused(make_elf({.desc_size = 8, .pvh_entry = 0xc000'0000}).bytes);
    refused(make_elf({.desc_size = 8, .pvh_entry = UINT64_MAX}).bytes);

    // The note segment itself past the end of the file.
    Image image = make_elf();
    auto ph = get<Elf64_Phdr>(image.bytes, image.note_ph);
    ph.p_filesz = image.bytes.size();
    put(image.bytes, image.note_ph, ph);
    refused(image.bytes);
}

TEST_CASE("Parsing refuses the wrong machine, class, type or byte order", "[boot][elf]") {
    CHECK_THAT(refused(make_elf({.machine = EM_AARCH64}).bytes), Catch::Contains("x86"));
    refused(make_elf({.machine = EM_386}).bytes);                    // ELF64 for i386
    refused(make_elf({.is64 = false, .machine = EM_X86_64}).bytes);  // ELF32 for x86_64
    refused(make_elf({.type = ET_DYN}).bytes);
    refused(make_elf({.type = ET_REL}).bytes);

    Image image = make_elf();
    image.bytes[EI_DATA] = ELFDATA2MSB;
    refused(image.bytes);
    image = make_elf();
    image.bytes[EI_CLASS] = ELFCLASSNONE;
    refused(image.bytes);
    image = make_elf();
    image.bytes[EI_CLASS] = ELFCLASS32;  // 64-bit headers read as 32-bit ones
    refused(image.bytes);
    image = make_elf();
    auto eh = get<Elf64_Ehdr>(image.bytes, 0);
    eh.e_phentsize = sizeof(Elf64_Phdr) - 1;
    put(image.bytes, 0, eh);
    refused(image.bytes);
}

TEST_CASE("Parsing refuses a kernel without a loadable segment", "[boot][elf]") {
    refused(make_elf({.phnum = 0}).bytes);
    refused(make_elf({.filesz = 0, .memsz = 0}).bytes);
}

TEST_CASE("Parsing survives random corruption of a valid kernel", "[boot][elf]") {
    std::mt19937 rng(777);
    for (bool is64 : {true, false}) {
        Image const image = make_elf({.is64 = is64, .other_note_first = true});
        for (int round = 0; round < 2000; ++round) {
            std::vector<uint8_t> bytes = image.bytes;
            int const flips = 1 + static_cast<int>(rng() % 4);
            for (int i = 0; i < flips; ++i)
                bytes[rng() % kPayloadOffset] = static_cast<uint8_t>(rng());
            auto r = parse_elf_kernel(bytes);
            if (!r) {
                CHECK(r.error().kind() == ErrorKind::Image);
                continue;
            }
            // Whatever is accepted honours the documented invariants.
            for (auto const& s : r->segments) {
                CHECK(s.physical_address >= kLoad);
                CHECK(s.file_size <= s.memory_size);
                CHECK(s.file_offset + s.file_size <= bytes.size());
                CHECK(s.physical_address + s.memory_size >= s.physical_address);
                CHECK(s.physical_address + s.memory_size <= r->end);
            }
            if (r->pvh_entry) {
                CHECK(*r->pvh_entry < 0xc000'0000);
            } else {
                CHECK(is64);
                CHECK(r->entry >= kLoad);
                CHECK(r->entry < 0xc000'0000);
            }
        }
    }
}
