// SPDX-License-Identifier: Apache-2.0
// e2e: the project's Linux guest driven through VmmHost (vmm/control.h) as the API server
// drives it, in one boot: the guest's keyboard (atkbd) binds at boot without a probe timeout,
// pause and resume keep the console working (input typed while paused is not lost), and
// SendCtrlAltDel reboots the guest, which ends the machine with status 0 (reboot=k).
//
// Usage: control_e2e KERNEL INITRD   (run by tests/e2e/control-linux, on KVM)
// The guest's serial console is this process's stdin and stdout, made pipes here: the test
// types into one and reads the other.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <mutex>
#include <regex>
#include <string>
#include <thread>

#include "vmm/base/log.h"
#include "vmm/control.h"

namespace {

using namespace std::chrono_literals;

/// Everything the guest wrote on its console, read on its own thread.
class Console {
public:
    explicit Console(int fd) : m_fd(fd), m_reader([this] { read_all(); }) {}
    ~Console() { m_reader.join(); }
    /// Waits (bounded, as a failure limit only) until `text` appears after offset `from`;
    /// returns the offset past it, or npos.
    size_t wait_for(std::string const& text, size_t from = 0) {
        if (from == std::string::npos) from = 0;
        std::unique_lock lock(m_lock);
        size_t found = std::string::npos;
        m_grown.wait_for(lock, 600s, [&] {
            found = m_text.find(text, from);
            return found != std::string::npos || m_closed;
        });
        return found == std::string::npos ? found : found + text.size();
    }
    std::string text() {
        std::lock_guard guard(m_lock);
        return m_text;
    }

private:
    void read_all() {
        char buffer[4096];
        for (;;) {
            ssize_t const n = ::read(m_fd, buffer, sizeof buffer);
            if (n < 0 && errno == EINTR) continue;
            std::lock_guard guard(m_lock);
            if (n <= 0) {
                m_closed = true;
                m_grown.notify_all();
                return;
            }
            m_text.append(buffer, static_cast<size_t>(n));
            m_grown.notify_all();
        }
    }
    int m_fd;
    std::mutex m_lock;
    std::condition_variable m_grown;
    std::string m_text;
    bool m_closed = false;
    std::thread m_reader;
};

void type(int fd, std::string const& line) {
    size_t done = 0;
    while (done < line.size()) {
        ssize_t const n = ::write(fd, line.data() + done, line.size() - done);
        if (n <= 0) return;
        done += static_cast<size_t>(n);
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: control_e2e KERNEL INITRD\n");
        return 2;
    }
    // The report goes to the original stdout; the guest's console gets pipes.
    FILE* report = ::fdopen(::dup(STDOUT_FILENO), "w");
    int to_guest[2], from_guest[2];
    if (::pipe2(to_guest, O_CLOEXEC) != 0 || ::pipe2(from_guest, O_CLOEXEC) != 0) return 2;
    ::dup2(to_guest[0], STDIN_FILENO);
    ::dup2(from_guest[1], STDOUT_FILENO);
    ::close(to_guest[0]);
    ::close(from_guest[1]);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    vmm::init_logging(spdlog::level::info);

    auto host = vmm::make_vmm_host();
    auto const process_start = std::chrono::steady_clock::now();
    int failures = 0;
    bool kernel_without_vt = false;
    auto check = [&](bool ok, std::string const& what) {
        std::fprintf(report, "control_e2e: %s: %s\n", ok ? "ok" : "FAILED", what.c_str());
        std::fflush(report);
        if (!ok) ++failures;
        return ok;
    };
    Console console(from_guest[0]);

    auto steps = [&] {
        vmm::MachineConfig config{
            .kernel = argv[1],
            .initrd = std::string(argv[2]),
            .cmdline = "console=ttyS0 reboot=k panic=-1 pci=off quiet",
            .memory = 256ull << 20,
        };
        auto const started = host->start(config);
        if (!check(started.has_value(), "InstanceStart" + (started ? std::string()
                                                               : ": " + started.error().message())))
            return;
        auto const boot = std::chrono::steady_clock::now();
        size_t at = console.wait_for("wisp guest: Linux");
        if (!check(at != std::string::npos, "the guest booted to its shell")) return;
        auto const booted = std::chrono::steady_clock::now() - boot;
        std::fprintf(report, "control_e2e: boot to the banner took %.1f s\n",
                     std::chrono::duration<double>(booted).count());

        // The keyboard: atkbd bound, and the i8042/atkbd lines with their times.
        type(to_guest[1], "dmesg | grep -iE 'i8042|atkbd|serio|keyboard'; echo probe-$((1+1))\n");
        size_t const probe = console.wait_for("probe-2", at);
        check(probe != std::string::npos, "dmesg answered");
        std::string const lines = console.text().substr(at, probe - at);
        std::fprintf(report, "control_e2e: dmesg:\n%s\n", lines.c_str());
        check(lines.find("input: AT Translated Set 2 keyboard") != std::string::npos,
              "atkbd bound the keyboard (AT Translated Set 2)");
        check(lines.find("Failed") == std::string::npos &&
                  lines.find("timeout") == std::string::npos &&
                  lines.find("Unknown key") == std::string::npos,
              "no keyboard probe failure, timeout or unknown key");
        at = probe;

        // Pause; a line typed meanwhile waits, and runs after resume.
        check(host->pause().has_value(), "pause");
        check(host->state() == vmm::VmState::Paused, "state Paused");
        type(to_guest[1], "echo resumed-$((2*3))\n");
        check(host->resume().has_value(), "resume");
        check(host->state() == vmm::VmState::Running, "state Running");
        at = console.wait_for("resumed-6", at);
        check(at != std::string::npos, "the console works after resume (input typed while "
                                       "paused ran)");
        type(to_guest[1], "echo again-$((3*3))\n");
        at = console.wait_for("again-9", at == std::string::npos ? 0 : at);
        check(at != std::string::npos, "and keeps working");

        auto const metrics = host->metrics_json();
        std::fprintf(report, "control_e2e: metrics: %s\n", metrics.c_str());
        check(metrics.find("\"pause_count\":1") != std::string::npos, "the vCPU parked once");

        // Linux calls ctrl_alt_del() from the VT keyboard handler (drivers/tty/vt/keyboard.c):
        // without CONFIG_VT the keys arrive (IRQ 1 counts them) but nothing reboots.
        auto const probe_irqs = [&]() -> std::pair<long, bool> {
            type(to_guest[1], "echo kbd-irqs=$(grep i8042 /proc/interrupts | awk '{print $2}') "
                              "vt=$([ -e /sys/class/tty/tty0 ] && echo yes || echo no) "
                              "end-$((5+5))\n");
            size_t const end = console.wait_for("end-10", at);
            if (end == std::string::npos) return {-1, false};
            std::string const answer = console.text().substr(at, end - at);
            at = end;
            std::smatch m;
            if (!std::regex_search(answer, m, std::regex("kbd-irqs=([0-9]+) vt=(yes|no)")))
                return {-1, false};
            return {std::stol(m[1]), m[2] == "yes"};
        };
        auto const [irqs_before, vt] = probe_irqs();
        check(irqs_before >= 0, "IRQ 1 count read: " + std::to_string(irqs_before));
        check(host->send_ctrl_alt_del().has_value(), "SendCtrlAltDel");
        if (vt) {
            check(console.wait_for("reboot: Restarting system", at) != std::string::npos,
                  "the guest rebooted (Ctrl-Alt-Del)");
            return;
        }
        auto const [irqs_after, vt_again] = probe_irqs();
        (void)vt_again;
        check(irqs_after >= irqs_before + 8,
              "the 8 scan code bytes reached the guest: IRQ 1 went from " +
                  std::to_string(irqs_before) + " to " + std::to_string(irqs_after));
        kernel_without_vt = true;
        type(to_guest[1], "poweroff\n");
    };
    auto api = std::async(std::launch::async, [&] {
        steps();
        if (failures > 0) {
            // Whatever serve() is doing, end it: waiting for a start, or running the guest.
            host->shutdown();
            ::kill(::getpid(), SIGTERM);
        }
    });
    int const status = host->serve(process_start);
    api.get();
    ::close(STDOUT_FILENO);  // the console reader sees the end
    ::close(to_guest[1]);
    std::string const output = console.text();
    std::fprintf(report, "control_e2e: guest console:\n%s\n", output.c_str());
    check(status == 0, "wisp's status " + std::to_string(status) + " (expected 0, reboot=k)");
    auto const after = host->resume();
    check(!after && after.error().message().find("has ended") != std::string::npos,
          "calls after the end say the VM has ended");
    if (failures == 0 && kernel_without_vt) {
        // Everything else passed; the reboot itself cannot happen with this kernel.
        std::fprintf(report,
                     "SKIPPED: the guest kernel has no CONFIG_VT, so Linux never calls "
                     "ctrl_alt_del() (its only caller is the VT keyboard handler): the keys "
                     "reached the guest but cannot reboot it; build the guest kernel with "
                     "CONFIG_VT=y (guest/kernel/wisp.config) to check the reboot\n");
        std::fflush(report);
        return 77;
    }
    std::fprintf(report, "control_e2e: %s\n", failures == 0 ? "PASSED" : "FAILED");
    std::fflush(report);
    return failures == 0 ? 0 : 1;
}
