// SPDX-License-Identifier: Apache-2.0
// HaltWatch: notices a guest that has halted for good. Linux's `poweroff -f` without ACPI (or
// `halt`) ends with every CPU in HLT with interrupts off; with the in-kernel LAPIC KVM_RUN then
// never returns, so wisp would wait forever. A periodic kick (Machine) interrupts each vCPU's
// KVM_RUN; each vCPU reports its KVM_GET_MP_STATE and RFLAGS here, one round per kick.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

namespace vmm {

/// One vCPU's state at a kick.
struct VcpuSample {
    uint32_t mp_state = 0;  // KVM_MP_STATE_*
    uint64_t rflags = 0;
    uint64_t rip = 0;
};

/// True when every vCPU has reported and none can run again by itself: each is HALTED with
/// RFLAGS.IF clear (only an NMI, INIT or SMI could wake it, and nothing is left running to send
/// one), or is an AP that was never started (UNINITIALIZED, INIT_RECEIVED); and at least one is
/// HALTED. Any other state (RUNNABLE, SIPI_RECEIVED, ...) or a missing report: not done.
bool halted_for_good(std::span<std::optional<VcpuSample> const> samples);

/// Rounds of samples. Thread-safe: vCPU threads report, the event-loop thread begins and ends
/// rounds. A guest is done only after two consecutive complete rounds find it halted for good
/// in the same places, so a vCPU woken between two samples of one round cannot fool it.
class HaltWatch {
public:
    explicit HaltWatch(size_t vcpus) : m_current(vcpus), m_previous(vcpus) {}

    /// Starts a round (clearing its samples); returns its number, never 0.
    uint64_t begin_round();
    /// vCPU `vcpu`'s sample for `round`; ignored for any other round or an unknown vCPU.
    void report(size_t vcpu, uint64_t round, VcpuSample const& sample);
    /// Ends the current round; true when it and the round before it were both complete, both
    /// halted_for_good, with every vCPU in the same state at the same rip.
    bool end_round();

private:
    std::mutex m_lock;
    uint64_t m_round = 0;
    std::vector<std::optional<VcpuSample>> m_current;
    std::vector<std::optional<VcpuSample>> m_previous;
    bool m_previous_halted = false;
};

}  // namespace vmm
