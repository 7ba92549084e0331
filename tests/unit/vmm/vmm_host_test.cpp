// SPDX-License-Identifier: Apache-2.0
// VmmHost without KVM: the state machine, the call channel onto the loop thread and the end of
// the machine, driven through a fake machine; and the event loop's pause.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "vmm/base/event_fd.h"
#include "vmm/event_loop.h"
#include "vmm/vmm_host.h"

namespace {

using namespace vmm;

/// A machine whose run() serves a real event loop until end() is called from any thread;
/// each control call records the thread it ran on.
class FakeMachine final : public HostedMachine {
public:
    FakeMachine() {
        auto loop = EventLoop::create();
        REQUIRE(loop);
        m_loop = std::move(*loop);
        auto end = EventFd::create();
        REQUIRE(end);
        m_end.emplace(std::move(*end));
    }
    EventLoop& loop() override { return *m_loop; }
    Result<int> run() override {
        loop_thread = std::this_thread::get_id();
        TRY(m_loop->add(m_end->fd(), EPOLLIN, [this](uint32_t) { m_loop->stop(); },
                        EventLoop::WhilePaused::Serve));
        running.set_value();
        TRY(m_loop->run());
        return status.load();
    }
    Result<void> pause() override {
        record();
        ++pauses;
        return {};
    }
    Result<void> resume() override {
        record();
        ++resumes;
        return {};
    }
    Result<void> send_ctrl_alt_del() override {
        record();
        ++ctrl_alt_dels;
        return {};
    }
    Result<void> update_drive(std::string const& id, std::string const& path) override {
        record();
        if (id != "rootfs") return fail(ErrorKind::Usage, "no drive with id '" + id + "'");
        drive_path = path;
        return {};
    }
    std::string metrics_json() const override {
        return "{\"pauses\":" + std::to_string(pauses.load()) + "}";
    }
    void end(int code) {
        status = code;
        m_end->signal();
    }

    std::atomic<int> status{0};
    std::atomic<int> pauses{0}, resumes{0}, ctrl_alt_dels{0};
    std::string drive_path;
    std::thread::id loop_thread;
    std::atomic<bool> off_loop_call{false};
    std::promise<void> running;

private:
    void record() {
        if (std::this_thread::get_id() != loop_thread) off_loop_call = true;
    }
    std::unique_ptr<EventLoop> m_loop;
    std::optional<EventFd> m_end;
};

/// serve() on its own thread (standing in for the main thread), the fake it builds, and the
/// configs it refuses (kernel "bad").
struct Harness {
    FakeMachine* machine = nullptr;
    std::unique_ptr<VmmHost> host = make_vmm_host(
        [this](MachineConfig const& config, std::chrono::steady_clock::time_point)
            -> Result<std::unique_ptr<HostedMachine>> {
            if (config.kernel == "bad")
                return fail(ErrorKind::Image, "kernel 'bad' is not a kernel: pass a vmlinux");
            auto fake = std::make_unique<FakeMachine>();
            machine = fake.get();
            return std::unique_ptr<HostedMachine>(std::move(fake));
        });
    std::future<int> served =
        std::async(std::launch::async, [this] { return host->serve(std::chrono::steady_clock::now()); });

    ~Harness() {
        host->shutdown();
        if (machine) machine->end(0);
        served.wait();
    }
    void start() {
        REQUIRE(host->start(MachineConfig{.kernel = "good"}));
        REQUIRE(machine != nullptr);
        machine->running.get_future().wait();
    }
};

std::string message(Result<void> const& result) {
    REQUIRE_FALSE(result);
    return result.error().message();
}

}  // namespace

TEST_CASE("VmmHost refuses control calls before InstanceStart, saying what to do", "[host]") {
    Harness h;
    CHECK(h.host->state() == VmState::NotStarted);
    for (auto const& refused : {h.host->pause(), h.host->resume(), h.host->send_ctrl_alt_del(),
                                h.host->update_drive("rootfs", "/tmp/x")}) {
        CHECK(message(refused) == "the VM is not started yet: send InstanceStart first");
    }
    CHECK(h.host->metrics_json() == "{}");
    CHECK(h.host->state() == VmState::NotStarted);
}

TEST_CASE("VmmHost answers a failed build with its message and can start later", "[host]") {
    Harness h;
    auto const refused = h.host->start(MachineConfig{.kernel = "bad"});
    CHECK(message(refused) == "kernel 'bad' is not a kernel: pass a vmlinux");
    CHECK(h.host->state() == VmState::NotStarted);
    CHECK(h.machine == nullptr);
    h.start();
    CHECK(h.host->state() == VmState::Running);
    CHECK(message(h.host->start(MachineConfig{.kernel = "good"})).find("already started") !=
          std::string::npos);
}

TEST_CASE("VmmHost runs Running <-> Paused on the machine's loop thread", "[host]") {
    Harness h;
    h.start();
    FakeMachine& m = *h.machine;
    CHECK(message(h.host->resume()) == "the VM is not paused (it is running): nothing to resume");
    REQUIRE(h.host->pause());
    CHECK(h.host->state() == VmState::Paused);
    CHECK(message(h.host->pause()) == "the VM is already paused: resume it to continue");
    CHECK(message(h.host->send_ctrl_alt_del()).find("resume it, then send") != std::string::npos);
    CHECK(m.ctrl_alt_dels == 0);
    // Drives can change while paused; a refusal from the machine comes back as it is.
    REQUIRE(h.host->update_drive("rootfs", "/images/new.ext4"));
    CHECK(m.drive_path == "/images/new.ext4");
    CHECK(message(h.host->update_drive("data", "/x")) == "no drive with id 'data'");
    CHECK(h.host->metrics_json() == "{\"pauses\":1}");
    REQUIRE(h.host->resume());
    CHECK(h.host->state() == VmState::Running);
    REQUIRE(h.host->send_ctrl_alt_del());
    CHECK(m.pauses == 1);
    CHECK(m.resumes == 1);
    CHECK(m.ctrl_alt_dels == 1);
    CHECK_FALSE(m.off_loop_call);
}

TEST_CASE("VmmHost serve() returns the machine's status; later calls say it ended", "[host]") {
    Harness h;
    h.start();
    REQUIRE(h.host->pause());
    h.machine->end(42);
    CHECK(h.served.get() == 42);
    auto const ended = message(h.host->resume());
    CHECK(ended.find("the VM has ended") != std::string::npos);
    CHECK(ended.find("42") != std::string::npos);
    CHECK(message(h.host->start(MachineConfig{.kernel = "good"})) == ended);
    CHECK(h.host->metrics_json() == "{\"pauses\":1}");  // the last counters
    h.served = std::async([] { return 0; });
    h.machine = nullptr;  // destroyed by serve()
}

TEST_CASE("VmmHost shutdown() ends a serve() that waits for InstanceStart", "[host]") {
    Harness h;
    h.host->shutdown();
    CHECK(h.served.get() == 0);
    CHECK(message(h.host->start(MachineConfig{.kernel = "good"})).find("shutting down") !=
          std::string::npos);
    h.served = std::async([] { return 0; });
}

TEST_CASE("VmmHost calls racing the machine's end all get an answer", "[host]") {
    Harness h;
    h.start();
    std::atomic<int> answered{0};
    std::vector<std::thread> clients;
    for (int t = 0; t < 4; ++t) {
        clients.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) {
                if (t == 0) (void)h.host->metrics_json();
                else if (t % 2) (void)h.host->pause();
                else (void)h.host->resume();
                ++answered;
            }
        });
    }
    h.machine->end(3);
    CHECK(h.served.get() == 3);
    for (auto& client : clients) client.join();
    CHECK(answered == 800);
    h.served = std::async([] { return 0; });
    h.machine = nullptr;
}

TEST_CASE("A paused event loop leaves Defer fds unserved and serves them on resume",
          "[loop]") {
    auto created = EventLoop::create();
    REQUIRE(created);
    EventLoop& loop = **created;
    auto device = EventFd::create();
    auto control = EventFd::create();
    REQUIRE(device);
    REQUIRE(control);
    int pipe_fds[2];
    REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
    ::close(pipe_fds[1]);  // the read end now reports EPOLLHUP, whatever the event mask
    std::vector<std::string> order;
    uint64_t device_count = 0;
    int hup_calls = 0;
    REQUIRE(loop.add(device->fd(), EPOLLIN, [&](uint32_t) {
        device_count = device->consume();
        order.push_back("device");
        loop.stop();
    }));
    REQUIRE(loop.add(pipe_fds[0], EPOLLIN, [&](uint32_t) { ++hup_calls; }));
    REQUIRE(loop.set_paused(true));
    REQUIRE(loop.paused());
    REQUIRE(loop.add(control->fd(), EPOLLIN,
                     [&](uint32_t) {
                         control->consume();
                         order.push_back(hup_calls == 0 ? "control, nothing else served"
                                                        : "control after hup");
                         REQUIRE(loop.set_paused(false));
                         ::close(pipe_fds[0]);
                         loop.remove(pipe_fds[0]);
                     },
                     EventLoop::WhilePaused::Serve));
    device->signal();
    device->signal();
    // Modify while paused takes effect at resume (still EPOLLIN here).
    REQUIRE(loop.modify(device->fd(), EPOLLIN));
    control->signal();
    REQUIRE(loop.run());
    CHECK(order == std::vector<std::string>{"control, nothing else served", "device"});
    CHECK(device_count == 2);  // both notifications kept while paused
    CHECK(hup_calls == 0);
}
