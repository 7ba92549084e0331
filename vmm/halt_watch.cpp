// SPDX-License-Identifier: Apache-2.0
// Halted-for-good detection.
#include "vmm/halt_watch.h"

#include <linux/kvm.h>

#include <algorithm>

namespace vmm {

namespace {
constexpr uint64_t kInterruptFlag = 1ull << 9;

bool same_places(std::span<std::optional<VcpuSample> const> a,
                 std::span<std::optional<VcpuSample> const> b) {
    return std::ranges::equal(a, b, [](auto const& x, auto const& y) {
        return x && y && x->mp_state == y->mp_state && x->rip == y->rip;
    });
}
}  // namespace

bool halted_for_good(std::span<std::optional<VcpuSample> const> samples) {
    bool any_halted = false;
    for (auto const& sample : samples) {
        if (!sample) return false;
        switch (sample->mp_state) {
            case KVM_MP_STATE_HALTED:
                if (sample->rflags & kInterruptFlag) return false;
                any_halted = true;
                break;
            case KVM_MP_STATE_UNINITIALIZED:
            case KVM_MP_STATE_INIT_RECEIVED: break;  // an AP never started
            default: return false;
        }
    }
    return any_halted;
}

uint64_t HaltWatch::begin_round() {
    std::lock_guard guard(m_lock);
    std::ranges::fill(m_current, std::nullopt);
    return ++m_round;
}

void HaltWatch::report(size_t vcpu, uint64_t round, VcpuSample const& sample) {
    std::lock_guard guard(m_lock);
    if (round == 0 || round != m_round || vcpu >= m_current.size()) return;
    m_current[vcpu] = sample;
}

bool HaltWatch::end_round() {
    std::lock_guard guard(m_lock);
    bool const halted = halted_for_good(m_current);
    bool const done = halted && m_previous_halted && same_places(m_current, m_previous);
    m_previous_halted = halted;
    m_previous = m_current;
    std::ranges::fill(m_current, std::nullopt);
    ++m_round;  // late reports for the round just ended are ignored
    return done;
}

}  // namespace vmm
