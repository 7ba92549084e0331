// SPDX-License-Identifier: Apache-2.0
// VcpuThread: runs one vCPU's KVM_RUN loop on its own thread and dispatches its exits to the
// port-I/O and MMIO buses. Stop = stop flag + immediate_exit + a signal that interrupts KVM_RUN.
#pragma once

#include <atomic>
#include <thread>

#include "vmm/base/bus.h"
#include "vmm/exit_status.h"
#include "vmm/halt_watch.h"
#include "vmm/kvm/pvm_quirks.h"
#include "vmm/kvm/vcpu.h"
#include "vmm/memory/guest_memory.h"

namespace vmm {

struct VcpuContext {
    Bus const& pio_bus;
    Bus const& mmio_bus;
    GuestMemory const& memory;
    ExitRequest& exit;
    /// The pvm host profile's emulation-gap fallback; null (native profile): never consulted.
    kvm::pvm::PvmQuirks* pvm_quirks = nullptr;
    /// Where kicks report this vCPU's state; null: kicks only interrupt.
    HaltWatch* halt_watch = nullptr;
};

/// Reads guest RAM by physical address, for the fallback and crash reports.
kvm::pvm::ReadPhysical read_guest_ram(GuestMemory const& memory);

class VcpuThread {
public:
    /// The signal used to kick vCPU threads out of KVM_RUN; install_kick_handler() sets it up
    /// once per process before any vCPU thread starts.
    static int kick_signal();
    static void install_kick_handler();

    VcpuThread(kvm::Vcpu vcpu, VcpuContext context) : m_vcpu(std::move(vcpu)), m_context(context) {}
    VcpuThread(VcpuThread const&) = delete;
    VcpuThread& operator=(VcpuThread const&) = delete;
    ~VcpuThread() { stop_and_join(); }

    void start();
    /// Idempotent; returns when the thread has ended.
    void stop_and_join();
    /// Interrupts KVM_RUN; the vCPU then reports its state for `round` to the HaltWatch (and,
    /// with the pvm profile, completes a hypercall it spins on). A kick whose signal arrives outside
    /// KVM_RUN waits for the next interrupted one. For the thread that calls stop_and_join().
    void kick(uint64_t round);
    kvm::Vcpu& vcpu() { return m_vcpu; }

private:
    void run_loop() noexcept;
    /// Handles one exit; returns false when the loop must end.
    bool handle(kvm::VcpuExit& exit);
    void report_crash(std::string_view what, bool emulation_failure = false);
    void on_kick(uint64_t round);

    kvm::Vcpu m_vcpu;
    VcpuContext m_context;
    std::thread m_thread;
    std::atomic<bool> m_stop{false};
    std::atomic<uint64_t> m_kick_round{0};  // 0: no kick pending
};

}  // namespace vmm
