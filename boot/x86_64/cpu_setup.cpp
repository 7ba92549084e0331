// SPDX-License-Identifier: Apache-2.0
// x86_64 boot-time vCPU state.
#include "boot/x86_64/cpu_setup.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <span>

#include "boot/x86_64/layout.h"

namespace vmm::boot::x86_64 {

namespace {

// Intel SDM vol. 3A §3.4.5: a segment descriptor from base, limit and the flags word
// (type | S << 4 | DPL << 5 | P << 7 | AVL << 12 | L << 13 | D/B << 14 | G << 15).
constexpr uint64_t descriptor(uint16_t flags, uint32_t base, uint32_t limit) {
    return ((uint64_t{base} & 0xff000000) << 32) | ((uint64_t{flags} & 0xf0ff) << 40) |
           ((uint64_t{limit} & 0xf0000) << 32) | ((uint64_t{base} & 0x00ffffff) << 16) |
           (uint64_t{limit} & 0xffff);
}

kvm_segment segment_from(uint64_t d, uint16_t selector) {
    kvm_segment s{};
    s.base = static_cast<uint64_t>(((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000));
    uint32_t limit = static_cast<uint32_t>((d & 0xffff) | ((d >> 32) & 0xf0000));
    s.g = (d >> 55) & 1;
    s.limit = s.g ? (limit << 12) | 0xfff : limit;
    s.selector = selector;
    s.type = (d >> 40) & 0xf;
    s.s = (d >> 44) & 1;
    s.dpl = (d >> 45) & 3;
    s.present = (d >> 47) & 1;
    s.avl = (d >> 52) & 1;
    s.l = (d >> 53) & 1;
    s.db = (d >> 54) & 1;
    return s;
}

// Intel SDM vol. 3A §2.5 and §2.2.1: control register and EFER bits.
constexpr uint64_t kCr0Pe = 1ull << 0, kCr0Et = 1ull << 4, kCr0Pg = 1ull << 31;
constexpr uint64_t kCr4Pae = 1ull << 5;
constexpr uint64_t kEferLme = 1ull << 8, kEferLma = 1ull << 10;

constexpr uint32_t kMsrSysenterCs = 0x174, kMsrSysenterEsp = 0x175, kMsrSysenterEip = 0x176;
constexpr uint32_t kMsrStar = 0xc0000081, kMsrLstar = 0xc0000082, kMsrCstar = 0xc0000083;
constexpr uint32_t kMsrSyscallMask = 0xc0000084, kMsrKernelGsBase = 0xc0000102;
constexpr uint32_t kMsrTsc = 0x10, kMsrMiscEnable = 0x1a0;
constexpr uint64_t kMiscEnableFastString = 1;

}  // namespace

std::array<uint64_t, 5> boot_gdt(EntryMode mode) {
    // In long mode a code segment with L = 1 must have D = 0; base and limit are ignored.
    uint64_t const code = mode == EntryMode::Linux64
                              ? descriptor(0xa09b, 0, 0xfffff)   // 0x10: code, 64-bit, accessed
                              : descriptor(0xc09b, 0, 0xfffff);  // 0x10: code, 32-bit, 4 GiB
    return {
        0,
        0,
        code,
        descriptor(0xc093, 0, 0xfffff),  // 0x18: data, 4 GiB, accessed
        descriptor(0x008b, 0, 0x67),     // 0x20: 32-bit TSS, busy (64-bit TSS in long mode)
    };
}

Result<void> write_boot_gdt(GuestMemory const& memory, EntryMode mode) {
    auto gdt = boot_gdt(mode);
    if (!memory.write_obj(GuestAddress{kGdtAddress}, gdt))
        return fail(ErrorKind::Host, "cannot write the boot GDT");
    return {};
}

std::vector<uint64_t> identity_page_tables() {
    // Intel SDM vol. 3A §4.5: 4-level paging; a PDE with PS maps a 2 MiB page.
    constexpr uint64_t kPresent = 1, kWritable = 2, kPageSize = 0x80;
    constexpr uint64_t kEntries = 512;
    std::vector<uint64_t> tables((2 + kPageDirectoryCount) * kEntries, 0);
    uint64_t* const pml4 = tables.data();
    uint64_t* const pdpt = pml4 + kEntries;
    uint64_t* const directories = pdpt + kEntries;
    pml4[0] = kPdptAddress | kPresent | kWritable;
    for (uint64_t gib = 0; gib < kPageDirectoryCount; ++gib) {
        pdpt[gib] = (kPageDirectoryAddress + gib * 4096) | kPresent | kWritable;
        for (uint64_t i = 0; i < kEntries; ++i) {
            uint64_t const address = (gib << 30) | (i << 21);
            directories[gib * kEntries + i] = address | kPresent | kWritable | kPageSize;
        }
    }
    return tables;
}

Result<void> write_identity_page_tables(GuestMemory const& memory) {
    auto const tables = identity_page_tables();
    auto const bytes = std::as_bytes(std::span(tables));
    if (!memory.write(GuestAddress{kPml4Address},
                      std::span(reinterpret_cast<uint8_t const*>(bytes.data()), bytes.size())))
        return fail(ErrorKind::Host, "cannot write the boot page tables");
    return {};
}

namespace {
// The GDT register, an empty IDT, and CS, the data segments and TR loaded from `gdt`.
void load_boot_segments(kvm_sregs& sregs, std::array<uint64_t, 5> const& gdt) {
    sregs.gdt.base = kGdtAddress;
    sregs.gdt.limit = sizeof gdt - 1;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    sregs.cs = segment_from(gdt[2], kCodeSelector);
    kvm_segment const data = segment_from(gdt[3], kDataSelector);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
    sregs.tr = segment_from(gdt[4], kTssSelector);
}
}  // namespace

void set_pvh_sregs(kvm_sregs& sregs) {
    load_boot_segments(sregs, boot_gdt());
    sregs.cr0 = kCr0Pe | kCr0Et;  // protected mode, paging off
    sregs.cr3 = 0;
    sregs.cr4 = 0;
    sregs.efer = 0;
}

kvm_regs pvh_regs(uint64_t entry, uint64_t start_info) {
    kvm_regs regs{};
    regs.rip = entry;
    regs.rbx = start_info;
    regs.rflags = 0x2;
    return regs;
}

void set_long_mode_sregs(kvm_sregs& sregs) {
    load_boot_segments(sregs, boot_gdt(EntryMode::Linux64));
    sregs.cr0 = kCr0Pe | kCr0Et | kCr0Pg;
    sregs.cr3 = kPml4Address;
    sregs.cr4 = kCr4Pae;
    sregs.efer = kEferLme | kEferLma;
}

kvm_regs linux_regs(uint64_t entry, uint64_t boot_params) {
    kvm_regs regs{};
    regs.rip = entry;
    regs.rsi = boot_params;
    regs.rflags = 0x2;
    return regs;
}

void set_entry_sregs(EntryMode mode, kvm_sregs& sregs) {
    if (mode == EntryMode::Linux64)
        set_long_mode_sregs(sregs);
    else
        set_pvh_sregs(sregs);
}

kvm_regs entry_regs(EntryMode mode, uint64_t entry, uint64_t boot_info) {
    return mode == EntryMode::Pvh ? pvh_regs(entry, boot_info) : linux_regs(entry, boot_info);
}

void enable_tsc_deadline_timer(std::vector<kvm_cpuid_entry2>& entries) {
    constexpr uint32_t kTscDeadline = 1u << 24;
    for (auto& entry : entries)
        if (entry.function == 0x1) entry.ecx |= kTscDeadline;
}

std::vector<kvm_cpuid_entry2> normalize_cpuid(std::vector<kvm_cpuid_entry2> entries,
                                              uint32_t index, uint32_t count) {
    count = std::clamp<uint32_t>(count, 1, 255);  // leaf 1 has an 8-bit count field
    uint32_t const apic_id = index;
    // Bits needed to number `count` cores: the shift of the package level in leaf 0xb.
    uint32_t const core_bits = count <= 1 ? 0 : static_cast<uint32_t>(std::bit_width(count - 1));
    for (auto& e : entries) {
        switch (e.function) {
            case 0x1:
                // EBX[31:24] initial APIC id, [23:16] logical processors per package.
                e.ebx = (e.ebx & 0x0000ffff) | (apic_id << 24) | ((count & 0xff) << 16);
                e.ecx |= 1u << 31;  // hypervisor present
                if (count > 1) e.edx |= 1u << 28;  // HTT: the count field is valid
                break;
            case 0x4:
                // EAX[31:26] cores per package - 1; [25:14] threads sharing this cache - 1.
                e.eax &= 0x3ff;
                e.eax |= ((count - 1) & 0x3f) << 26;
                if (((e.eax >> 5) & 7) == 3) e.eax |= ((count - 1) & 0xfff) << 14;  // L3
                break;
            case 0xb:
            case 0x1f:
                e.edx = apic_id;
                if (e.index == 0) {  // SMT level: one thread per core
                    e.eax = 0;
                    e.ebx = 1;
                    e.ecx = (1u << 8) | 0;
                } else if (e.index == 1) {  // core level
                    e.eax = core_bits;
                    e.ebx = count;
                    e.ecx = (2u << 8) | 1;
                } else {
                    e.eax = 0;
                    e.ebx = 0;
                    e.ecx = e.index;
                }
                break;
            default: break;
        }
    }
    return entries;
}

std::vector<kvm_msr_entry> boot_msrs() {
    std::vector<kvm_msr_entry> msrs;
    for (uint32_t index : {kMsrSysenterCs, kMsrSysenterEsp, kMsrSysenterEip, kMsrStar, kMsrCstar,
                           kMsrKernelGsBase, kMsrSyscallMask, kMsrLstar, kMsrTsc}) {
        kvm_msr_entry e{};
        e.index = index;
        msrs.push_back(e);
    }
    kvm_msr_entry misc{};
    misc.index = kMsrMiscEnable;
    misc.data = kMiscEnableFastString;
    msrs.push_back(misc);
    return msrs;
}

kvm_fpu boot_fpu() {
    kvm_fpu fpu{};
    fpu.fcw = 0x37f;
    fpu.mxcsr = 0x1f80;
    return fpu;
}

void set_lapic_lint(kvm_lapic_state& lapic) {
    // Intel SDM vol. 3A §10.5.1: LVT LINT0 at 0x350, LINT1 at 0x360; delivery mode in
    // bits 10:8 (ExtINT = 111b, NMI = 100b).
    auto update = [&](size_t offset, uint32_t mode) {
        uint32_t value;
        std::memcpy(&value, lapic.regs + offset, sizeof value);
        value = (value & ~0x700u) | (mode << 8);
        std::memcpy(lapic.regs + offset, &value, sizeof value);
    };
    update(0x350, 0x7);
    update(0x360, 0x4);
}

}  // namespace vmm::boot::x86_64
