// SPDX-License-Identifier: Apache-2.0
// A VmmControl that records what the control plane asks and answers as told: the API tests run
// the real request handling and the real socket server without a VMM.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "vmm/control.h"

namespace vmm::test {

class FakeVmm final : public VmmControl {
public:
    VmState state() const override {
        std::lock_guard guard(m_lock);
        return m_state;
    }
    Result<void> start(MachineConfig const& config) override {
        std::lock_guard guard(m_lock);
        if (m_start_error) return fail(ErrorKind::Image, *m_start_error);
        started_config = config;
        m_state = VmState::Running;
        return {};
    }
    Result<void> pause() override {
        std::lock_guard guard(m_lock);
        if (m_state != VmState::Running)
            return fail(ErrorKind::Usage, "the guest is not running: it cannot pause");
        m_state = VmState::Paused;
        return {};
    }
    Result<void> resume() override {
        std::lock_guard guard(m_lock);
        if (m_state != VmState::Paused)
            return fail(ErrorKind::Usage, "the guest is not paused: it cannot resume");
        m_state = VmState::Running;
        return {};
    }
    Result<void> send_ctrl_alt_del() override {
        std::lock_guard guard(m_lock);
        ++ctrl_alt_dels;
        return {};
    }
    Result<void> update_drive(std::string const& id, std::string const& path) override {
        std::lock_guard guard(m_lock);
        drive_updates.emplace_back(id, path);
        return {};
    }
    std::string metrics_json() const override {
        return R"({"block_vda":{"read_count":7},"vcpu":{"exits_io":3}})";
    }

    void fail_start_with(std::string message) {
        std::lock_guard guard(m_lock);
        m_start_error = std::move(message);
    }

    std::optional<MachineConfig> started_config;
    int ctrl_alt_dels = 0;
    std::vector<std::pair<std::string, std::string>> drive_updates;

private:
    mutable std::mutex m_lock;
    VmState m_state = VmState::NotStarted;
    std::optional<std::string> m_start_error;
};

}  // namespace vmm::test
