// SPDX-License-Identifier: Apache-2.0
// VmmControl: what a control plane (the REST API, a config file) asks of the VMM. The API
// thread calls it; the implementation forwards each call to the VMM's own thread and waits
// for the answer, so the machine is only ever touched by its owner.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "vmm/base/result.h"
#include "vmm/machine_config.h"

namespace vmm {

/// Firecracker's InstanceInfo.state.
enum class VmState { NotStarted, Running, Paused };

constexpr char const* vm_state_name(VmState state) {
    switch (state) {
        case VmState::NotStarted: return "Not started";
        case VmState::Running: return "Running";
        case VmState::Paused: return "Paused";
    }
    return "?";
}

/// Every call is thread-safe. An error's message is shown to the API client as-is
/// (fault_message), so it says what is wrong and what to do.
class VmmControl {
public:
    virtual ~VmmControl() = default;

    /// After the guest ends, the state it had then (there is no "ended" state): every other
    /// call then fails with "the VM has ended (wisp's exit status N) ...".
    virtual VmState state() const = 0;
    /// InstanceStart: builds the machine from `config` and starts its vCPUs. Fails (and the
    /// state stays NotStarted) when the configuration cannot be built.
    virtual Result<void> start(MachineConfig const& config) = 0;
    /// PATCH /vm: stops the vCPUs and device processing; resume() continues with nothing lost.
    virtual Result<void> pause() = 0;
    virtual Result<void> resume() = 0;
    /// PUT /actions SendCtrlAltDel: the key press on the i8042 keyboard. Refused while paused,
    /// and while the guest has its keyboard disabled. A Linux guest reboots only when built
    /// with CONFIG_VT (its VT keyboard handler calls ctrl_alt_del()).
    virtual Result<void> send_ctrl_alt_del() = 0;
    /// PATCH /drives/{id} after start: the drive now reads and writes `path_on_host`. `drive_id`
    /// is DiskConfig::id. Works while running or paused; a new size is announced to the guest.
    virtual Result<void> update_drive(std::string const& drive_id,
                                      std::string const& path_on_host) = 0;
    /// The VMM's counters as one JSON object (per-device counters, vCPU exits by kind), for a
    /// metrics line; "{}" before start.
    virtual std::string metrics_json() const = 0;
};

/// The VMM's side (vmm/vmm_host.cpp): serve() runs on the main thread, with SIGINT and SIGTERM
/// blocked. It waits for start() (from any thread), builds the machine there, runs it and
/// serves the other calls on the machine's event loop until the guest ends; it returns the
/// exit status (vmm/exit_status.h) as `wisp run` would. shutdown() makes a serve() that is
/// still waiting for start() return kOk (the API socket was closed, SIGTERM, ...); once the
/// machine runs it has no effect (SIGTERM/SIGINT reach the machine's own signalfd).
class VmmHost : public VmmControl {
public:
    virtual int serve(std::chrono::steady_clock::time_point process_start) = 0;
    virtual void shutdown() = 0;
};

std::unique_ptr<VmmHost> make_vmm_host();

}  // namespace vmm
