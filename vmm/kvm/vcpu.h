// SPDX-License-Identifier: Apache-2.0
// Vcpu: one virtual CPU. run() is the only place that reads the kvm_run union.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <span>
#include <variant>
#include <vector>

#include "vmm/base/memory_mapping.h"
#include "vmm/base/result.h"
#include "vmm/base/unique_fd.h"

namespace vmm::kvm {

namespace exit {
struct MmioRead { uint64_t address; std::span<uint8_t> data; };
struct MmioWrite { uint64_t address; std::span<uint8_t const> data; };
/// data covers size * count bytes for string I/O; each size-byte element is one access.
struct IoIn { uint16_t port; uint8_t size; std::span<uint8_t> data; };
struct IoOut { uint16_t port; uint8_t size; std::span<uint8_t const> data; };
struct Hlt {};
struct Shutdown {};     // triple fault
struct Interrupted {};  // EINTR or immediate_exit
struct SystemEvent { uint32_t type; };
struct FailEntry { uint64_t reason; };
struct InternalError { uint32_t suberror; std::vector<uint64_t> data; };
struct Unknown { uint32_t reason; };
}  // namespace exit

using VcpuExit = std::variant<exit::MmioRead, exit::MmioWrite, exit::IoIn, exit::IoOut, exit::Hlt,
                              exit::Shutdown, exit::Interrupted, exit::SystemEvent,
                              exit::FailEntry, exit::InternalError, exit::Unknown>;

class Vcpu {
public:
    Vcpu(uint32_t id, UniqueFd fd, MemoryMapping run)
        : m_id(id), m_fd(std::move(fd)), m_run(std::move(run)) {}

    /// KVM_RUN until the next exit. Spans in the result point into kvm_run and stay valid until
    /// the next run(); writes to an IoIn/MmioRead span are what the guest reads.
    Result<VcpuExit> run();
    /// Makes the current or next KVM_RUN return at once (KVM_CAP_IMMEDIATE_EXIT).
    void set_immediate_exit(bool value);
    /// KVM_KVMCLOCK_CTRL: tells a kvmclock guest it was paused (PVCLOCK_GUEST_STOPPED), so its
    /// soft-lockup watchdog does not take the pause for a hang. EINVAL: no kvmclock in use.
    Result<void> kvmclock_ctrl();

    Result<kvm_regs> regs() const;
    Result<void> set_regs(kvm_regs const& regs);
    Result<kvm_sregs> sregs() const;
    Result<void> set_sregs(kvm_sregs const& sregs);
    Result<void> set_fpu(kvm_fpu const& fpu);
    Result<void> set_cpuid(std::span<kvm_cpuid_entry2 const> entries);
    Result<void> set_msrs(std::span<kvm_msr_entry const> entries);
    /// Fills in each entry's data for its index; fails if KVM refuses any of them.
    Result<void> get_msrs(std::span<kvm_msr_entry> entries) const;
    Result<kvm_vcpu_events> vcpu_events() const;
    Result<void> set_vcpu_events(kvm_vcpu_events const& events);
    /// The guest's TSC frequency (KVM_GET_TSC_KHZ).
    Result<uint32_t> tsc_khz() const;
    Result<kvm_lapic_state> lapic() const;
    Result<void> set_lapic(kvm_lapic_state const& state);
    Result<kvm_mp_state> mp_state() const;
    /// Guest-virtual to guest-physical through the guest's current page tables.
    Result<kvm_translation> translate(uint64_t linear) const;

    uint32_t id() const { return m_id; }

private:
    kvm_run* run_area() const { return reinterpret_cast<kvm_run*>(m_run.data()); }
    uint32_t m_id;
    UniqueFd m_fd;
    MemoryMapping m_run;
};

}  // namespace vmm::kvm
