// SPDX-License-Identifier: Apache-2.0
// Boot-time vCPU state for x86_64, as pure functions over the KVM uapi structures so that each
// piece is unit-testable without /dev/kvm: entry registers (PVH, Linux 32- and 64-bit), GDT,
// identity page tables, CPUID, MSRs, FPU, LAPIC.
#pragma once

#include <linux/kvm.h>

#include <array>
#include <cstdint>
#include <vector>

#include "vmm/base/result.h"
#include "vmm/memory/guest_memory.h"

namespace vmm::boot::x86_64 {

/// How the boot vCPU enters the kernel: the PVH boot ABI (32-bit, %ebx = hvm_start_info), or
/// the Linux boot protocol's 64-bit or 32-bit entry (%rsi/%esi = boot_params; boot.rst).
enum class EntryMode { Pvh, Linux64, Linux32 };

/// GDT selectors used at entry (boot.rst: __BOOT_CS = 0x10, __BOOT_DS = 0x18): 0x10 flat code,
/// 64-bit for Linux64 and 32-bit otherwise, 0x18 flat data, 0x20 TSS.
inline constexpr uint16_t kCodeSelector = 0x10;
inline constexpr uint16_t kDataSelector = 0x18;
inline constexpr uint16_t kTssSelector = 0x20;

/// The GDT written at kGdtAddress for an entry mode.
std::array<uint64_t, 5> boot_gdt(EntryMode mode = EntryMode::Pvh);
Result<void> write_boot_gdt(GuestMemory const& memory, EntryMode mode = EntryMode::Pvh);

/// Identity page tables for 0-4 GiB with 2 MiB pages, as the 64-bit entry needs them: the
/// PML4, the PDPT and four page directories, one 512-entry page after another from kPml4Address.
std::vector<uint64_t> identity_page_tables();
Result<void> write_identity_page_tables(GuestMemory const& memory);

/// PVH boot ABI and Linux's 32-bit entry: 32-bit protected mode, paging off, flat segments,
/// the rest of sregs kept.
void set_pvh_sregs(kvm_sregs& sregs);
/// PVH boot ABI: %ebx = start info, %eip = entry, EFLAGS bit 1 only.
kvm_regs pvh_regs(uint64_t entry, uint64_t start_info);

/// Linux's 64-bit entry: long mode with paging on (CR3 = the identity tables), CS 64-bit code,
/// flat data segments, the rest of sregs kept.
void set_long_mode_sregs(kvm_sregs& sregs);
/// Linux's 32- and 64-bit entries: %rsi = boot_params, %rip = entry, everything else zero
/// (boot.rst asks %ebp, %edi and %ebx to be zero) and interrupts off.
kvm_regs linux_regs(uint64_t entry, uint64_t boot_params);

/// The sregs and regs for an entry mode; boot_info is the start info or boot_params address.
void set_entry_sregs(EntryMode mode, kvm_sregs& sregs);
kvm_regs entry_regs(EntryMode mode, uint64_t entry, uint64_t boot_info);

/// The host-supported CPUID adapted for vCPU `index` of `count`: APIC ids and topology in
/// leaves 0x1, 0x4, 0xb and 0x1f, the hypervisor bit set.
std::vector<kvm_cpuid_entry2> normalize_cpuid(std::vector<kvm_cpuid_entry2> entries,
                                              uint32_t index, uint32_t count);

/// Sets the TSC deadline timer bit (leaf 1 ECX bit 24). KVM emulates that timer in its LAPIC
/// when it has KVM_CAP_TSC_DEADLINE_TIMER but leaves the bit out of KVM_GET_SUPPORTED_CPUID,
/// so the VMM adds it; without it Linux falls back to the slower LAPIC one-shot mode.
void enable_tsc_deadline_timer(std::vector<kvm_cpuid_entry2>& entries);

/// MSRs every vCPU starts with (SYSCALL/SYSENTER zeroed, fast strings on).
std::vector<kvm_msr_entry> boot_msrs();

/// x87 control word 0x37f and MXCSR 0x1f80, the values after FNINIT / reset.
kvm_fpu boot_fpu();

/// LINT0 as ExtINT (the PIC's output) and LINT1 as NMI, as a BIOS leaves them.
void set_lapic_lint(kvm_lapic_state& lapic);

}  // namespace vmm::boot::x86_64
