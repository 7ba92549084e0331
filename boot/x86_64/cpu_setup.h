// SPDX-License-Identifier: Apache-2.0
// Boot-time vCPU state for x86_64, as pure functions over the KVM uapi structures so that each
// piece is unit-testable without /dev/kvm: PVH entry registers, GDT, CPUID, MSRs, FPU, LAPIC.
#pragma once

#include <linux/kvm.h>

#include <array>
#include <cstdint>
#include <vector>

#include "vmm/base/result.h"
#include "vmm/memory/guest_memory.h"

namespace vmm::boot::x86_64 {

/// GDT selectors used at entry: 0x10 flat 32-bit code, 0x18 flat data, 0x20 TSS.
inline constexpr uint16_t kCodeSelector = 0x10;
inline constexpr uint16_t kDataSelector = 0x18;
inline constexpr uint16_t kTssSelector = 0x20;

/// The GDT written at kGdtAddress.
std::array<uint64_t, 5> boot_gdt();
Result<void> write_boot_gdt(GuestMemory const& memory);

/// PVH boot ABI: 32-bit protected mode, paging off, flat segments, the rest of sregs kept.
void set_pvh_sregs(kvm_sregs& sregs);
/// PVH boot ABI: %ebx = start info, %eip = entry, EFLAGS bit 1 only.
kvm_regs pvh_regs(uint64_t entry, uint64_t start_info);

/// The host-supported CPUID adapted for vCPU `index` of `count`: APIC ids and topology in
/// leaves 0x1, 0x4, 0xb and 0x1f, the hypervisor bit set.
std::vector<kvm_cpuid_entry2> normalize_cpuid(std::vector<kvm_cpuid_entry2> entries,
                                              uint32_t index, uint32_t count);

/// MSRs every vCPU starts with (SYSCALL/SYSENTER zeroed, fast strings on).
std::vector<kvm_msr_entry> boot_msrs();

/// x87 control word 0x37f and MXCSR 0x1f80, the values after FNINIT / reset.
kvm_fpu boot_fpu();

/// LINT0 as ExtINT (the PIC's output) and LINT1 as NMI, as a BIOS leaves them.
void set_lapic_lint(kvm_lapic_state& lapic);

}  // namespace vmm::boot::x86_64
