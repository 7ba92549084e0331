// SPDX-License-Identifier: Apache-2.0
// VmmHost: the VMM's side of the control plane. serve() owns the main thread: it waits for
// start() (a condition variable: no polling), builds the machine there, answers the start()
// caller and runs the machine. Every other call is a Call put on a queue and announced through
// an eventfd on the machine's event loop; the loop thread runs it against the machine and
// hands the answer back through a promise the calling thread waits on. So only the loop
// thread (and the vCPUs) ever touch the machine, and a call never races the machine's end:
// serve() answers whatever is still queued once run() has returned.
#include <sys/epoll.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>

#include <spdlog/spdlog.h>

#include "vmm/builder.h"
#include "vmm/exit_status.h"
#include "vmm/vmm_host.h"

namespace vmm {

namespace {

/// The real machine behind HostedMachine.
class BuiltMachine final : public HostedMachine {
public:
    explicit BuiltMachine(std::unique_ptr<Machine> machine) : m_machine(std::move(machine)) {}
    EventLoop& loop() override { return m_machine->loop(); }
    Result<int> run() override { return m_machine->run(); }
    Result<void> pause() override { return m_machine->pause(); }
    Result<void> resume() override { return m_machine->resume(); }
    Result<void> send_ctrl_alt_del() override { return m_machine->send_ctrl_alt_del(); }
    Result<void> update_drive(std::string const& drive_id, std::string const& path) override {
        return m_machine->update_drive(drive_id, path);
    }
    std::string metrics_json() const override { return m_machine->metrics_json(); }

private:
    std::unique_ptr<Machine> m_machine;
};

Result<void> without_value(Result<std::string> result) {
    if (!result) return std::unexpected(std::move(result).error());
    return {};
}

// Where serve() is: waiting for start(), building, running the machine, or done.
enum class Phase { Waiting, Building, Running, Ended };

class Host final : public VmmHost {
public:
    explicit Host(MachineFactory factory) : m_factory(std::move(factory)) {}

    VmState state() const override { return m_state.load(std::memory_order_acquire); }
    Result<void> start(MachineConfig const& config) override;
    Result<void> pause() override;
    Result<void> resume() override;
    Result<void> send_ctrl_alt_del() override;
    Result<void> update_drive(std::string const& drive_id,
                              std::string const& path_on_host) override;
    std::string metrics_json() const override;
    int serve(std::chrono::steady_clock::time_point process_start) override;
    void shutdown() override;

private:
    using Work = std::function<Result<std::string>(HostedMachine&)>;
    struct Call {
        Work work;
        std::promise<Result<std::string>> answer;
    };

    /// Runs work on the loop thread and waits for its answer; fails at once unless running.
    Result<std::string> call(Work work) const;
    /// The loop thread: runs every queued call.
    void serve_calls(HostedMachine& machine);
    /// Why a call cannot run in this phase (nullopt: it can). Under m_lock.
    std::optional<std::string> refusal() const;
    void set_state(VmState state) { m_state.store(state, std::memory_order_release); }

    MachineFactory m_factory;
    std::atomic<VmState> m_state{VmState::NotStarted};

    mutable std::mutex m_lock;
    mutable std::condition_variable m_changed;
    Phase m_phase = Phase::Waiting;
    bool m_shutdown = false;
    std::optional<MachineConfig> m_start_request;
    std::optional<Result<void>> m_start_answer;
    mutable std::deque<std::shared_ptr<Call>> m_calls;
    std::optional<EventFd> m_wake;  // the loop's wake-up for m_calls, while Running
    std::string m_end;              // why the machine ended, once Ended
    std::string m_final_metrics = "{}";
};

std::optional<std::string> Host::refusal() const {
    switch (m_phase) {
        case Phase::Waiting:
        case Phase::Building: return "the VM is not started yet: send InstanceStart first";
        case Phase::Running: return std::nullopt;
        case Phase::Ended: return m_end;
    }
    return "?";
}

Result<void> Host::start(MachineConfig const& config) {
    std::unique_lock lock(m_lock);
    switch (m_phase) {
        case Phase::Waiting: break;
        case Phase::Building:
            return fail(ErrorKind::Usage,
                        "the VM is already being started by another InstanceStart: wait for it");
        case Phase::Running:
            return fail(ErrorKind::Usage,
                        "the VM is already started: InstanceStart works once per wisp process");
        case Phase::Ended: return fail(ErrorKind::Usage, m_end);
    }
    if (m_shutdown)
        return fail(ErrorKind::Usage, "the VMM is shutting down: start a new wisp process");
    m_start_request = config;
    m_phase = Phase::Building;
    m_changed.notify_all();
    m_changed.wait(lock, [this] { return m_start_answer.has_value(); });
    Result<void> answer = std::move(*m_start_answer);
    m_start_answer.reset();
    return answer;
}

Result<std::string> Host::call(Work work) const {
    auto pending = std::make_shared<Call>(Call{std::move(work), {}});
    auto answer = pending->answer.get_future();
    {
        std::lock_guard guard(m_lock);
        if (auto why = refusal()) return fail(ErrorKind::Usage, *why);
        m_calls.push_back(pending);
        m_wake->signal();
    }
    return answer.get();
}

void Host::serve_calls(HostedMachine& machine) {
    std::deque<std::shared_ptr<Call>> calls;
    {
        std::lock_guard guard(m_lock);
        if (m_wake) m_wake->consume();
        calls.swap(m_calls);
    }
    for (auto& pending : calls) pending->answer.set_value(pending->work(machine));
}

Result<void> Host::pause() {
    return without_value(call([this](HostedMachine& machine) -> Result<std::string> {
        if (state() == VmState::Paused)
            return fail(ErrorKind::Usage, "the VM is already paused: resume it to continue");
        TRY(machine.pause());
        set_state(VmState::Paused);
        return std::string();
    }));
}

Result<void> Host::resume() {
    return without_value(call([this](HostedMachine& machine) -> Result<std::string> {
        if (state() != VmState::Paused)
            return fail(ErrorKind::Usage, "the VM is not paused (it is running): nothing to resume");
        TRY(machine.resume());
        set_state(VmState::Running);
        return std::string();
    }));
}

Result<void> Host::send_ctrl_alt_del() {
    return without_value(call([this](HostedMachine& machine) -> Result<std::string> {
        if (state() == VmState::Paused)
            return fail(ErrorKind::Usage,
                        "the VM is paused and cannot react to keys: resume it, then send "
                        "SendCtrlAltDel");
        TRY(machine.send_ctrl_alt_del());
        return std::string();
    }));
}

Result<void> Host::update_drive(std::string const& drive_id, std::string const& path_on_host) {
    // Allowed while paused too: the guest sees the new image (and size) once it runs again.
    return without_value(call([&](HostedMachine& machine) -> Result<std::string> {
        TRY(machine.update_drive(drive_id, path_on_host));
        return std::string();
    }));
}

std::string Host::metrics_json() const {
    {
        std::lock_guard guard(m_lock);
        if (m_phase == Phase::Ended) return m_final_metrics;
        if (m_phase != Phase::Running) return "{}";
    }
    auto metrics = call([](HostedMachine& machine) -> Result<std::string> {
        return machine.metrics_json();
    });
    if (metrics) return *metrics;
    // The machine ended between the check and the call: its last counters.
    std::lock_guard guard(m_lock);
    return m_final_metrics;
}

void Host::shutdown() {
    std::lock_guard guard(m_lock);
    m_shutdown = true;
    m_changed.notify_all();
}

int Host::serve(std::chrono::steady_clock::time_point process_start) {
    for (;;) {
        MachineConfig config;
        {
            std::unique_lock lock(m_lock);
            m_changed.wait(lock, [this] { return m_start_request.has_value() || m_shutdown; });
            if (!m_start_request) {
                spdlog::info("the VMM was shut down before InstanceStart");
                return exit_status::kGuestReset;  // kOk: nothing ran, nothing failed
            }
            config = std::move(*m_start_request);
            m_start_request.reset();
        }
        // Built here, on the main thread, as `wisp run` does.
        auto built = m_factory(config, process_start);
        Result<EventFd> wake = built ? EventFd::create() : Result<EventFd>(std::unexpected(built.error()));
        Result<void> registered;
        if (built && wake)
            registered = (*built)->loop().add(
                wake->fd(), EPOLLIN, [this, machine = built->get()](uint32_t) { serve_calls(*machine); },
                EventLoop::WhilePaused::Serve);
        Result<void> outcome = !built ? Result<void>(std::unexpected(built.error()))
                               : !wake ? Result<void>(std::unexpected(wake.error()))
                                       : std::move(registered);
        {
            std::lock_guard guard(m_lock);
            if (!outcome) {
                spdlog::error("InstanceStart failed: {}", outcome.error());
                m_phase = Phase::Waiting;  // the VM stays not started; another start may work
                m_start_answer = std::move(outcome);
                m_changed.notify_all();
                continue;
            }
            m_wake.emplace(std::move(*wake));
            m_phase = Phase::Running;
            set_state(VmState::Running);
            m_start_answer = Result<void>();
            m_changed.notify_all();
        }
        HostedMachine& machine = **built;
        auto status = machine.run();
        std::string const final_metrics = machine.metrics_json();
        int const code = status ? *status : exit_status::kHostError;
        if (!status) spdlog::error("{}", status.error());
        std::deque<std::shared_ptr<Call>> leftover;
        {
            std::lock_guard guard(m_lock);
            m_phase = Phase::Ended;
            m_end = fmt::format("the VM has ended (wisp's exit status {}): start a new wisp "
                                "process for a new VM",
                                code);
            m_final_metrics = final_metrics;
            leftover.swap(m_calls);
        }
        for (auto& pending : leftover)
            pending->answer.set_value(fail(ErrorKind::Usage, m_end));
        built->reset();  // the machine goes before the wake-up fd it has registered
        std::lock_guard guard(m_lock);
        m_wake.reset();
        return code;
    }
}

}  // namespace

std::unique_ptr<VmmHost> make_vmm_host(MachineFactory factory) {
    return std::make_unique<Host>(std::move(factory));
}

std::unique_ptr<VmmHost> make_vmm_host() {
    return make_vmm_host([](MachineConfig const& config,
                            std::chrono::steady_clock::time_point process_start)
                             -> Result<std::unique_ptr<HostedMachine>> {
        auto machine = TRY(build_machine(config, process_start));
        return std::unique_ptr<HostedMachine>(std::make_unique<BuiltMachine>(std::move(machine)));
    });
}

}  // namespace vmm
