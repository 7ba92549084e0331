// SPDX-License-Identifier: Apache-2.0
// The control plane's VMM side on KVM, through make_vmm_host() as the API server drives it:
// pause stops a running guest and resume continues it, and SendCtrlAltDel reaches the guest's
// keyboard. No sleeps: the test watches the guest's progress in the vCPU exit counters.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <iostream>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/temp_file.h"
#include "vmm/control.h"

namespace {

using namespace vmm;

/// The guest's port-I/O reads so far: one per spin of its loop.
uint64_t spins(VmmHost& host) {
    auto const metrics = nlohmann::json::parse(host.metrics_json());
    return metrics.at("vcpu").at("exit_io_in").get<uint64_t>();
}

}  // namespace

TEST_CASE("Pause stops a spinning guest, resume continues it, Ctrl-Alt-Del reaches it",
          "[kvm][control]") {
    // As wisp's main: SIGINT and SIGTERM blocked before any thread exists.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    auto host = make_vmm_host();
    // The API thread's side; serve() keeps this (the main) thread.
    auto steps = [&host]() -> std::string {
        std::string log;
        auto const check = [&log](bool ok, std::string const& what) {
            log += (ok ? "ok: " : "FAILED: ") + what + "\n";
            return ok;
        };
        if (!check(host->state() == VmState::NotStarted, "not started at first")) return log;
        auto const early = host->pause();
        check(!early && early.error().message().find("InstanceStart") != std::string::npos,
              "pause before start refused");
        MachineConfig config{.kernel = vmm::test::guest_path("keyboard_spin"),
                             .console = {.kind = ConsoleKind::None}};
        auto started = host->start(config);
        if (!check(started.has_value(),
                   "start: " + (started ? std::string("ok") : started.error().message())))
            return log;
        check(host->state() == VmState::Running, "running after start");

        // Running: how many metrics round trips the guest needs to spin 20 more times.
        uint64_t const first = spins(*host);
        uint64_t calls = 0;
        while (spins(*host) < first + 20 && calls < 10'000'000) ++calls;
        if (!check(calls < 10'000'000, "the guest spins while running")) return log;

        // A running vCPU is not kicked out of KVM_RUN by the halt watch's 200 ms timer: over a
        // second of spinning (five ticks) it leaves KVM_RUN for a signal at most once (the
        // first tick, if the thread had used little CPU by then).
        auto const interrupted = [&host] {
            return nlohmann::json::parse(host->metrics_json())["vcpu"]["exit_interrupted"]
                .get<uint64_t>();
        };
        uint64_t const interrupted_before = interrupted();
        auto const second_from_now = std::chrono::steady_clock::now() + std::chrono::seconds(1);
        uint64_t const spins_before = spins(*host);
        while (std::chrono::steady_clock::now() < second_from_now) (void)spins(*host);
        check(spins(*host) > spins_before, "the guest spun during that second");
        check(interrupted() <= interrupted_before + 1,
              "a spinning vCPU is not kicked (" + std::to_string(interrupted() - interrupted_before) +
                  " signal exits in a second)");

        auto const paused = host->pause();
        check(paused.has_value(), "pause");
        check(host->state() == VmState::Paused, "state Paused");
        uint64_t const at_pause = spins(*host);
        // Paused: many times that many round trips, and not one spin more.
        uint64_t const budget = 10 * calls + 2000;
        bool still = true;
        for (uint64_t i = 0; i < budget && still; ++i) still = spins(*host) == at_pause;
        check(still, "no spin while paused over " + std::to_string(budget) +
                         " metrics round trips (running needed " + std::to_string(calls) +
                         " for 20 spins)");
        auto const metrics = nlohmann::json::parse(host->metrics_json());
        check(metrics["vcpu"]["pause_count"] == 1, "the vCPU parked once");
        auto const again = host->pause();
        check(!again && again.error().message().find("already paused") != std::string::npos,
              "a second pause refused");

        check(host->resume().has_value(), "resume");
        check(host->state() == VmState::Running, "state Running");
        calls = 0;
        while (spins(*host) < at_pause + 20 && calls < 10'000'000) ++calls;
        check(calls < 10'000'000, "the guest spins again after resume");

        check(host->send_ctrl_alt_del().has_value(), "SendCtrlAltDel");
        // Wait for the end: a call that cannot succeed tells "ended" apart from "running".
        bool ended = false;
        for (int i = 0; i < 10'000'000 && !ended; ++i)
            ended = host->update_drive("none", "/nonexistent").error().message().find(
                        "has ended") != std::string::npos;
        check(ended, "the guest ended after Ctrl-Alt-Del");
        return log;
    };
    auto api = std::async(std::launch::async, [&] {
        std::string log = steps();
        if (log.find("FAILED") != std::string::npos) {
            // Whatever state serve() is in, end it: before start, or a machine still running.
            host->shutdown();
            ::kill(::getpid(), SIGTERM);
        }
        return log;
    });
    int const status = host->serve(std::chrono::steady_clock::now());
    std::string const log = api.get();
    std::cout << log;
    CHECK(log.find("FAILED") == std::string::npos);
    CHECK(log.find("ok: SendCtrlAltDel") != std::string::npos);
    CHECK(status == 7);  // the guest read E0 53 from its keyboard
    auto const after = host->resume();
    REQUIRE_FALSE(after);
    CHECK(after.error().message().find("the VM has ended") != std::string::npos);
}
