// SPDX-License-Identifier: Apache-2.0
// Running a machine.
#include "vmm/machine.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <vector>

#include <spdlog/spdlog.h>

#include "devices/virtio/console/console_device.h"
#include "vmm/base/log.h"
#include "vmm/console_input.h"
#include "vmm/host_profile.h"
#include "vmm/terminal.h"

namespace vmm {

namespace {
// How often every vCPU is kicked out of KVM_RUN to report its state (HaltWatch) and, on the pvm
// profile, to complete a hypercall it spins on. Each kick costs one KVM_RUN exit and two or
// three ioctls per vCPU (~10 us on hardware KVM): ~0.005% of a CPU per vCPU. A halted guest is
// noticed after two to three periods.
constexpr std::chrono::milliseconds kKickPeriod{200};

// The pvm profile gave the guest the host's TSC frequency (tsc_early_khz, from /proc/cpuinfo);
// KVM's figure for the guest should agree, or the guest clock drifts.
void check_guest_tsc(kvm::Vcpu const& vcpu) {
    auto const host = host_evidence().tsc_khz;
    auto const guest = vcpu.tsc_khz();
    if (!host || !guest) return;
    uint64_t const difference = *host > *guest ? *host - *guest : *guest - *host;
    if (difference * 1000 > *host)
        spdlog::warn("pvm host profile: the guest's TSC runs at {} kHz (KVM_GET_TSC_KHZ) but the "
                     "host's /proc/cpuinfo gave {} kHz for tsc_early_khz",
                     *guest, *host);
    else
        spdlog::debug("pvm host profile: guest TSC {} kHz (KVM_GET_TSC_KHZ)", *guest);
}
}  // namespace

void write_console_output(int fd, std::span<uint8_t const> bytes) {
    static LogOnce write_failed;
    size_t done = 0;
    while (fd >= 0 && done < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (write_failed.first()) spdlog::warn("console output failed; output dropped");
            return;
        }
        done += static_cast<size_t>(n);
    }
}

Machine::Machine(MachineConfig config, kvm::Kvm kvm, kvm::Vm vm, GuestMemory memory,
                 ExitRequest exit, std::unique_ptr<EventLoop> loop)
    : m_config(std::move(config)), m_kvm(std::move(kvm)), m_vm(std::move(vm)),
      m_memory(std::move(memory)), m_exit(std::move(exit)), m_loop(std::move(loop)),
      m_halt_watch(m_config.vcpus) {}

Machine::~Machine() {
    stop_vcpus();
    m_console_input.reset();
}

void Machine::add_vcpu(kvm::Vcpu vcpu) {
    if (m_vcpus.empty() && resolve_host_profile(m_config.host_profile).profile == HostProfile::Pvm)
        m_pvm_quirks = std::make_unique<kvm::pvm::PvmQuirks>(read_guest_ram(m_memory));
    m_vcpus.push_back(std::make_unique<VcpuThread>(
        std::move(vcpu), VcpuContext{m_pio_bus, m_mmio_bus, m_memory, m_exit, m_pvm_quirks.get(),
                                     &m_halt_watch}));
}

Result<void> Machine::start_kick_timer() {
    int fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (fd < 0) return fail_errno("timerfd_create", errno);
    m_kick_timer.reset(fd);
    auto const period = std::chrono::duration_cast<std::chrono::nanoseconds>(kKickPeriod);
    itimerspec spec{};
    spec.it_interval.tv_sec = static_cast<time_t>(period.count() / 1'000'000'000);
    spec.it_interval.tv_nsec = static_cast<long>(period.count() % 1'000'000'000);
    spec.it_value = spec.it_interval;
    if (::timerfd_settime(fd, 0, &spec, nullptr) < 0) return fail_errno("timerfd_settime", errno);
    return m_loop->add(fd, EPOLLIN, [this](uint32_t) { on_kick_timer(); });
}

void Machine::on_kick_timer() {
    uint64_t expirations = 0;
    if (::read(m_kick_timer.get(), &expirations, sizeof expirations) != sizeof expirations) return;
    // Without ACPI, Linux's poweroff halts every CPU with interrupts off, and with the in-kernel
    // LAPIC KVM_RUN never returns: the kicks are how wisp sees it (pvm-host-facts.md §5).
    if (m_halt_watch.end_round()) {
        spdlog::info("every vCPU has halted with interrupts off: the guest halted (powered off)");
        m_exit.request(exit_status::kGuestReset, "the guest halted (powered off)");
        return;
    }
    uint64_t const round = m_halt_watch.begin_round();
    m_kick_cpu.resize(m_vcpus.size());
    for (size_t i = 0; i < m_vcpus.size(); ++i) {
        // A vCPU that used more than a tenth of the period is running, not halted for good:
        // it is not kicked (its round stays incomplete, so the watch sees no halt). Kicking
        // a vCPU out of KVM_RUN while it runs is legal, but costs an exit to user space, and
        // on a nested KVM host (kvm_amd under QEMU's TCG) periodic kicks of a busy guest made
        // it triple-fault within minutes. The pvm profile needs every kick (a vCPU spinning on
        // a hypercall is completed by it).
        if (!m_pvm_quirks) {
            if (auto const used = m_vcpus[i]->cpu_time()) {
                bool const busy = *used - m_kick_cpu[i] > kKickPeriod / 10;
                m_kick_cpu[i] = *used;
                if (busy) continue;
            }
        }
        m_vcpus[i]->kick(round);
    }
}

Result<void> Machine::watch_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int fd = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0) return fail_errno("signalfd", errno);
    m_signal_fd.reset(fd);
    return m_loop->add(
        fd, EPOLLIN,
        [this](uint32_t) {
            signalfd_siginfo info{};
            if (::read(m_signal_fd.get(), &info, sizeof info) != sizeof info) return;
            if (info.ssi_signo == SIGTERM)
                m_exit.request(exit_status::kTerminated, "ended by SIGTERM");
            else
                m_exit.request(exit_status::kInterrupted, "ended by SIGINT");
        },
        EventLoop::WhilePaused::Serve);
}

Result<void> Machine::attach_console_input() {
    if (!console_on_stdio(m_config.console.kind)) return {};
    // The serial port and the virtio console take input the same way: enqueue_input() takes
    // what fits, and the on-input-space callback resumes a paused stdin.
    auto connect = [this](auto target) -> Result<void> {
        if (!target) return {};
        m_console_input = TRY(ConsoleInput::create(
            *m_loop, STDIN_FILENO,
            [target](std::span<uint8_t const> bytes) { return target->enqueue_input(bytes); },
            [this] { m_exit.request(exit_status::kInterrupted, "ended by the console escape"); }));
        ConsoleInput* input = m_console_input.get();
        target->set_on_input_space([input] { input->space_available(); });
        return {};
    };
    if (m_config.console.kind == ConsoleKind::Virtio) return connect(m_virtio_console);
    return connect(m_serial);
}

Result<int> Machine::run() {
    TRY(watch_signals());
    TRY(m_loop->add(m_exit.event().fd(), EPOLLIN, [this](uint32_t) { m_loop->stop(); },
                    EventLoop::WhilePaused::Serve));
    RawTerminal terminal(console_on_stdio(m_config.console.kind) ? STDIN_FILENO : -1);
    if (terminal.active()) spdlog::info("console on this terminal; Ctrl-A x ends the VM");
    TRY(attach_console_input());
    TRY(start_kick_timer());
    if (m_pvm_quirks && !m_vcpus.empty()) check_guest_tsc(m_vcpus.front()->vcpu());

    VcpuThread::install_kick_handler();
    for (auto& vcpu : m_vcpus) vcpu->start();
    auto served = m_loop->run();
    stop_vcpus();
    terminal.restore();
    if (m_pvm_quirks) spdlog::info("pvm fallback: {}", m_pvm_quirks->stats().summary());
    if (!served) return std::unexpected(served.error());
    spdlog::debug("machine ended: {} (status {})", m_exit.reason(), m_exit.status());
    if (spdlog::should_log(spdlog::level::debug))
        spdlog::debug("guest memory resident at exit: {} KiB", resident_guest_bytes() / 1024);
    return m_exit.status();
}

uint64_t Machine::resident_guest_bytes() const {
    uint64_t const page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    uint64_t resident = 0;
    for (auto const& region : m_memory.regions()) {
        std::vector<unsigned char> pages((region.size() + page - 1) / page);
        if (::mincore(region.mapping.data(), region.size(), pages.data()) != 0) continue;
        for (unsigned char p : pages) resident += (p & 1) ? page : 0;
    }
    return resident;
}

void Machine::stop_vcpus() {
    for (auto& vcpu : m_vcpus) vcpu->stop_and_join();
}

}  // namespace vmm
