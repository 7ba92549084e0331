// SPDX-License-Identifier: Apache-2.0
// VmmHost's implementation seam: what it needs of a machine (HostedMachine; the real Machine
// behind an adapter, a fake in the unit tests) and how it builds one (MachineFactory).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "vmm/base/result.h"
#include "vmm/control.h"
#include "vmm/event_loop.h"
#include "vmm/machine_config.h"

namespace vmm {

/// A built machine as VmmHost drives it. run() serves loop() on the calling thread until the
/// machine ends; the control calls run on that loop's thread while it does.
class HostedMachine {
public:
    virtual ~HostedMachine() = default;
    virtual EventLoop& loop() = 0;
    virtual Result<int> run() = 0;
    virtual Result<void> pause() = 0;
    virtual Result<void> resume() = 0;
    virtual Result<void> send_ctrl_alt_del() = 0;
    virtual Result<void> update_drive(std::string const& drive_id, std::string const& path) = 0;
    virtual std::string metrics_json() const = 0;
};

using MachineFactory = std::function<Result<std::unique_ptr<HostedMachine>>(
    MachineConfig const& config, std::chrono::steady_clock::time_point process_start)>;

/// make_vmm_host() is this with build_machine (vmm/builder.h) as the factory.
std::unique_ptr<VmmHost> make_vmm_host(MachineFactory factory);

}  // namespace vmm
