// SPDX-License-Identifier: Apache-2.0
// VcpuThread: runs one vCPU's KVM_RUN loop on its own thread and dispatches its exits to the
// port-I/O and MMIO buses. Stop = stop flag + immediate_exit + a signal that interrupts KVM_RUN.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
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

/// One vCPU's exits by kind, for the metrics (Machine::metrics sums them over vCPUs). Relaxed
/// atomics on the vCPU's own cache line: one uncontended add per exit.
struct alignas(64) VcpuExitCounters {
    std::atomic<uint64_t> io_in{0};
    std::atomic<uint64_t> io_out{0};
    std::atomic<uint64_t> mmio_read{0};
    std::atomic<uint64_t> mmio_write{0};
    std::atomic<uint64_t> hlt{0};
    std::atomic<uint64_t> shutdown{0};
    std::atomic<uint64_t> system_event{0};
    std::atomic<uint64_t> fail_entry{0};
    std::atomic<uint64_t> internal_error{0};
    std::atomic<uint64_t> interrupted{0};  // signals (kicks, pause, stop) and immediate_exit
    std::atomic<uint64_t> unknown{0};
    std::atomic<uint64_t> failures{0};  // KVM_RUN itself failed
    std::atomic<uint64_t> pauses{0};    // times this vCPU parked

    static void add(std::atomic<uint64_t>& counter) {
        counter.fetch_add(1, std::memory_order_relaxed);
    }
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
    /// CPU time the thread has used so far (guest code and KVM included); nullopt before it
    /// starts or once it has ended. For the thread that calls stop_and_join().
    std::optional<std::chrono::nanoseconds> cpu_time();
    kvm::Vcpu& vcpu() { return m_vcpu; }
    VcpuExitCounters const& counters() const { return m_counters; }

    /// Pause, for the thread that calls stop_and_join(): request_pause() makes the vCPU leave
    /// KVM_RUN (immediate_exit + the kick signal) and park on a condition variable before its
    /// next KVM_RUN; wait_parked() returns once it is parked (or its loop has ended); resume()
    /// lets it run again. A stop while parked ends it.
    void request_pause();
    void wait_parked();
    void resume();

private:
    void run_loop() noexcept;
    void run_exits();
    void park();
    /// Handles one exit; returns false when the loop must end.
    bool handle(kvm::VcpuExit& exit);
    void report_crash(std::string_view what, bool emulation_failure = false);
    void on_kick(uint64_t round);

    kvm::Vcpu m_vcpu;
    VcpuContext m_context;
    std::thread m_thread;
    std::atomic<bool> m_stop{false};
    std::atomic<uint64_t> m_kick_round{0};  // 0: no kick pending
    VcpuExitCounters m_counters;
    // Pause and stop: changed under m_park_lock, so that clearing immediate_exit after a park
    // cannot undo a stop's. m_pause is also read without the lock before each KVM_RUN.
    std::mutex m_park_lock;
    std::condition_variable m_park_changed;
    std::atomic<bool> m_pause{false};
    bool m_parked = false;
    bool m_ended = false;
};

}  // namespace vmm
