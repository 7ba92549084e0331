// SPDX-License-Identifier: Apache-2.0
// Machine: owns everything of one running VM (KVM objects, memory, buses, devices, vCPU
// threads, the event loop) and runs it to its exit status.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "devices/legacy/serial_8250.h"
#include "vmm/base/bus.h"
#include "vmm/base/event_fd.h"
#include "vmm/base/irq_line.h"
#include "vmm/event_loop.h"
#include "vmm/exit_status.h"
#include "vmm/halt_watch.h"
#include "vmm/kvm/kvm.h"
#include "vmm/kvm/pvm_quirks.h"
#include "vmm/kvm/vm.h"
#include "vmm/machine_config.h"
#include "vmm/memory/guest_memory.h"
#include "vmm/vcpu_thread.h"

namespace vmm::devices {
class I8042;
}
namespace vmm::devices::virtio {
class ConsoleDevice;
class MmioTransport;
class BlockDevice;
struct BlockCounters;
}  // namespace vmm::devices::virtio

namespace vmm {

/// Writes guest console output to fd whole (-1: dropped); a failure is logged once and the rest
/// dropped.
void write_console_output(int fd, std::span<uint8_t const> bytes);

/// An IrqLine backed by a KVM irqfd: trigger() is one eventfd write.
class EventFdIrq final : public IrqLine {
public:
    explicit EventFdIrq(EventFd event) : m_event(std::move(event)) {}
    void trigger() override { m_event.signal(); }
    EventFd const& event() const { return m_event; }

private:
    EventFd m_event;
};

/// One virtio-mmio device of the machine, for the metrics and drive updates.
struct MachineVirtio {
    std::string kind;  // "block", "rng", "console", ...: the metrics key
    std::shared_ptr<devices::virtio::MmioTransport> transport;
    // Block devices only:
    std::shared_ptr<devices::virtio::BlockDevice> block;
    std::shared_ptr<devices::virtio::BlockCounters> block_counters;
    size_t disk = 0;  // index into MachineConfig::disks
};

class Machine {
public:
    Machine(MachineConfig config, kvm::Kvm kvm, kvm::Vm vm, GuestMemory memory, ExitRequest exit,
            std::unique_ptr<EventLoop> loop);
    Machine(Machine const&) = delete;
    Machine& operator=(Machine const&) = delete;
    ~Machine();

    /// Starts the vCPUs and serves events until the machine ends; returns the exit status.
    /// Signals SIGINT and SIGTERM must already be blocked in the calling thread.
    Result<int> run();

    MachineConfig const& config() const { return m_config; }
    kvm::Kvm& kvm() { return m_kvm; }
    kvm::Vm& vm() { return m_vm; }
    GuestMemory& memory() { return m_memory; }
    Bus& pio_bus() { return m_pio_bus; }
    Bus& mmio_bus() { return m_mmio_bus; }
    ExitRequest& exit_request() { return m_exit; }
    EventLoop& loop() { return *m_loop; }

    void set_console_output(UniqueFd owned, int fd) {
        m_console_file = std::move(owned);
        m_console_fd = fd;
    }
    int console_fd() const { return m_console_fd; }
    void set_serial(std::shared_ptr<devices::Serial8250> serial,
                    std::unique_ptr<EventFdIrq> irq) {
        m_serial = std::move(serial);
        m_serial_irq = std::move(irq);
    }
    /// --console virtio: the device stdin goes to (instead of the serial port).
    void set_virtio_console(std::shared_ptr<devices::virtio::ConsoleDevice> console) {
        m_virtio_console = std::move(console);
    }
    void add_device(std::shared_ptr<BusDevice> device) { m_devices.push_back(std::move(device)); }
    /// Keeps an interrupt line a device refers to alive as long as the machine.
    void add_irq(std::unique_ptr<EventFdIrq> irq) { m_irqs.push_back(std::move(irq)); }
    void add_vcpu(kvm::Vcpu vcpu);
    /// The i8042, for send_ctrl_alt_del().
    void set_keyboard(std::shared_ptr<devices::I8042> i8042) { m_keyboard = std::move(i8042); }
    void add_virtio(MachineVirtio device) { m_virtio.push_back(std::move(device)); }

    // Control (vmm/machine_control.cpp), for the event-loop thread while run() serves it:
    /// Parks every vCPU (returns once all are parked) and leaves device work (queue
    /// notifications, host events, console input, the halt watch's kick) unserved until
    /// resume(); nothing is lost meanwhile.
    Result<void> pause();
    Result<void> resume();
    bool paused() const { return m_paused; }
    /// Ctrl-Alt-Del on the i8042 keyboard.
    Result<void> send_ctrl_alt_del();
    /// The drive whose DiskConfig::id is `drive_id` now uses the image at `path` (opened and
    /// locked as at start, same read-only setting); a new size reaches the guest through a
    /// configuration-change interrupt.
    Result<void> update_drive(std::string const& drive_id, std::string const& path);
    /// The counters as one JSON object (docs: ARCHITECTURE.md, "Metrics"). Any thread.
    std::string metrics_json() const;
    /// Bytes of guest RAM the host has backed with pages (mincore).
    uint64_t resident_guest_bytes() const;

private:
    Result<void> watch_signals();
    Result<void> attach_console_input();
    Result<void> start_kick_timer();
    void on_kick_timer();
    void stop_vcpus();

    MachineConfig m_config;
    kvm::Kvm m_kvm;
    kvm::Vm m_vm;
    GuestMemory m_memory;
    ExitRequest m_exit;
    std::unique_ptr<EventLoop> m_loop;
    Bus m_pio_bus;
    Bus m_mmio_bus;
    UniqueFd m_console_file;
    int m_console_fd = -1;
    std::shared_ptr<devices::Serial8250> m_serial;
    std::unique_ptr<EventFdIrq> m_serial_irq;
    std::shared_ptr<devices::virtio::ConsoleDevice> m_virtio_console;
    std::vector<std::unique_ptr<EventFdIrq>> m_irqs;  // declared before the devices using them
    std::vector<std::shared_ptr<BusDevice>> m_devices;
    std::vector<std::unique_ptr<VcpuThread>> m_vcpus;
    UniqueFd m_signal_fd;
    std::unique_ptr<class ConsoleInput> m_console_input;
    std::unique_ptr<kvm::pvm::PvmQuirks> m_pvm_quirks;  // the pvm host profile only
    HaltWatch m_halt_watch;
    UniqueFd m_kick_timer;
    std::vector<std::chrono::nanoseconds> m_kick_cpu;  // each vCPU thread's CPU time at the last tick
    std::shared_ptr<devices::I8042> m_keyboard;
    std::vector<MachineVirtio> m_virtio;
    bool m_paused = false;
};

}  // namespace vmm
