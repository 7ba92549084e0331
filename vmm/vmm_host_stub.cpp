// SPDX-License-Identifier: Apache-2.0
// A VmmHost for builds without the VMM side of the control plane: every call fails and says so.
// serve() waits for shutdown(), so the API front end still answers (and refuses InstanceStart).
#include <condition_variable>
#include <mutex>

#include "vmm/control.h"

namespace vmm {
namespace {

constexpr char const* kNotBuilt =
    "the VMM side is not built in: this wisp can parse configurations but cannot run them";

class StubVmmHost final : public VmmHost {
public:
    VmState state() const override { return VmState::NotStarted; }
    Result<void> start(MachineConfig const&) override { return fail(ErrorKind::Host, kNotBuilt); }
    Result<void> pause() override { return fail(ErrorKind::Host, kNotBuilt); }
    Result<void> resume() override { return fail(ErrorKind::Host, kNotBuilt); }
    Result<void> send_ctrl_alt_del() override { return fail(ErrorKind::Host, kNotBuilt); }
    Result<void> update_drive(std::string const&, std::string const&) override {
        return fail(ErrorKind::Host, kNotBuilt);
    }
    std::string metrics_json() const override { return "{}"; }

    int serve(std::chrono::steady_clock::time_point) override {
        std::unique_lock lock(m_lock);
        m_changed.wait(lock, [&] { return m_shutdown; });
        return 0;  // nothing ran; the caller ends as asked
    }
    void shutdown() override {
        std::lock_guard guard(m_lock);
        m_shutdown = true;
        m_changed.notify_all();
    }

private:
    std::mutex m_lock;
    std::condition_variable m_changed;
    bool m_shutdown = false;
};

}  // namespace

std::unique_ptr<VmmHost> make_vmm_host() { return std::make_unique<StubVmmHost>(); }

}  // namespace vmm
