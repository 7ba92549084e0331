// SPDX-License-Identifier: Apache-2.0
// Running a machine.
#include "vmm/machine.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include <spdlog/spdlog.h>

#include "vmm/console_input.h"
#include "vmm/terminal.h"

namespace vmm {

Machine::Machine(MachineConfig config, kvm::Kvm kvm, kvm::Vm vm, GuestMemory memory,
                 ExitRequest exit, std::unique_ptr<EventLoop> loop)
    : m_config(std::move(config)), m_kvm(std::move(kvm)), m_vm(std::move(vm)),
      m_memory(std::move(memory)), m_exit(std::move(exit)), m_loop(std::move(loop)) {}

Machine::~Machine() {
    stop_vcpus();
    m_console_input.reset();
}

void Machine::add_vcpu(kvm::Vcpu vcpu) {
    m_vcpus.push_back(std::make_unique<VcpuThread>(
        std::move(vcpu), VcpuContext{m_pio_bus, m_mmio_bus, m_memory, m_exit}));
}

Result<void> Machine::watch_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int fd = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0) return fail_errno("signalfd", errno);
    m_signal_fd.reset(fd);
    return m_loop->add(fd, EPOLLIN, [this](uint32_t) {
        signalfd_siginfo info{};
        if (::read(m_signal_fd.get(), &info, sizeof info) != sizeof info) return;
        if (info.ssi_signo == SIGTERM)
            m_exit.request(exit_status::kTerminated, "ended by SIGTERM");
        else
            m_exit.request(exit_status::kInterrupted, "ended by SIGINT");
    });
}

Result<void> Machine::attach_console_input() {
    if (m_config.console.kind != ConsoleKind::Stdio || !m_serial) return {};
    auto serial = m_serial;
    m_console_input = TRY(ConsoleInput::create(
        *m_loop, STDIN_FILENO,
        [serial](std::span<uint8_t const> bytes) { return serial->enqueue_input(bytes); },
        [this] { m_exit.request(exit_status::kInterrupted, "ended by the console escape"); }));
    ConsoleInput* input = m_console_input.get();
    serial->set_on_input_space([input] { input->space_available(); });
    return {};
}

Result<int> Machine::run() {
    TRY(watch_signals());
    TRY(m_loop->add(m_exit.event().fd(), EPOLLIN, [this](uint32_t) { m_loop->stop(); }));
    RawTerminal terminal(m_config.console.kind == ConsoleKind::Stdio ? STDIN_FILENO : -1);
    if (terminal.active()) spdlog::info("console on this terminal; Ctrl-A x ends the VM");
    TRY(attach_console_input());

    VcpuThread::install_kick_handler();
    for (auto& vcpu : m_vcpus) vcpu->start();
    auto served = m_loop->run();
    stop_vcpus();
    terminal.restore();
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
