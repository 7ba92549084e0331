// SPDX-License-Identifier: Apache-2.0
// x86_64 boot-time vCPU state.
#include "boot/x86_64/cpu_setup.h"

#include <algorithm>
#include <bit>
#include <cstring>

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

constexpr uint32_t kMsrSysenterCs = 0x174, kMsrSysenterEsp = 0x175, kMsrSysenterEip = 0x176;
constexpr uint32_t kMsrStar = 0xc0000081, kMsrLstar = 0xc0000082, kMsrCstar = 0xc0000083;
constexpr uint32_t kMsrSyscallMask = 0xc0000084, kMsrKernelGsBase = 0xc0000102;
constexpr uint32_t kMsrTsc = 0x10, kMsrMiscEnable = 0x1a0;
constexpr uint64_t kMiscEnableFastString = 1;

}  // namespace

std::array<uint64_t, 5> boot_gdt() {
    return {
        0,
        0,
        descriptor(0xc09b, 0, 0xfffff),  // 0x10: code, 32-bit, 4 GiB, accessed
        descriptor(0xc093, 0, 0xfffff),  // 0x18: data, 4 GiB, accessed
        descriptor(0x008b, 0, 0x67),     // 0x20: 32-bit TSS, busy
    };
}

Result<void> write_boot_gdt(GuestMemory const& memory) {
    auto gdt = boot_gdt();
    if (!memory.write_obj(GuestAddress{kGdtAddress}, gdt))
        return fail(ErrorKind::Host, "cannot write the boot GDT");
    return {};
}

void set_pvh_sregs(kvm_sregs& sregs) {
    auto const gdt = boot_gdt();
    sregs.gdt.base = kGdtAddress;
    sregs.gdt.limit = sizeof gdt - 1;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    sregs.cs = segment_from(gdt[2], kCodeSelector);
    kvm_segment const data = segment_from(gdt[3], kDataSelector);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
    sregs.tr = segment_from(gdt[4], kTssSelector);
    sregs.cr0 = 0x11;  // PE | ET: protected mode, paging off
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
