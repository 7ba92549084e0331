// SPDX-License-Identifier: Apache-2.0
// The vCPU run loop.
#include "vmm/vcpu_thread.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <chrono>

#include "vmm/base/log.h"

namespace vmm {

namespace {
LogOnce g_unmapped_pio_log;
LogOnce g_unmapped_mmio_log;

std::string format_registers(kvm_regs const& r, kvm_sregs const& s) {
    return fmt::format(
        "rip={:#018x} rsp={:#018x} rflags={:#010x}\n"
        "rax={:#018x} rbx={:#018x} rcx={:#018x} rdx={:#018x}\n"
        "rsi={:#018x} rdi={:#018x} rbp={:#018x} r8={:#018x}\n"
        "r9={:#018x} r10={:#018x} r11={:#018x} r12={:#018x}\n"
        "r13={:#018x} r14={:#018x} r15={:#018x}\n"
        "cs={:#06x} base={:#x} l={} db={} cr0={:#x} cr3={:#x} cr4={:#x} efer={:#x}",
        r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.r8, r.r9, r.r10,
        r.r11, r.r12, r.r13, r.r14, r.r15, s.cs.selector, s.cs.base, s.cs.l, s.cs.db, s.cr0, s.cr3,
        s.cr4, s.efer);
}
}  // namespace

kvm::pvm::ReadPhysical read_guest_ram(GuestMemory const& memory) {
    return [&memory](uint64_t physical, std::span<uint8_t> out) {
        return memory.read(GuestAddress{physical}, out).has_value();
    };
}

int VcpuThread::kick_signal() { return SIGUSR1; }

void VcpuThread::install_kick_handler() {
    struct sigaction action {};
    action.sa_handler = [](int) {};  // only interrupts KVM_RUN; no SA_RESTART
    sigemptyset(&action.sa_mask);
    ::sigaction(kick_signal(), &action, nullptr);
}

void VcpuThread::start() {
    m_thread = std::thread([this] { run_loop(); });
}

void VcpuThread::stop_and_join() {
    {
        std::lock_guard guard(m_park_lock);
        m_stop.store(true, std::memory_order_release);
        m_vcpu.set_immediate_exit(true);
    }
    m_park_changed.notify_all();
    if (m_thread.joinable()) {
        ::pthread_kill(m_thread.native_handle(), kick_signal());
        m_thread.join();
    }
}

void VcpuThread::kick(uint64_t round) {
    m_kick_round.store(round, std::memory_order_release);
    if (m_thread.joinable()) ::pthread_kill(m_thread.native_handle(), kick_signal());
}

std::optional<std::chrono::nanoseconds> VcpuThread::cpu_time() {
    if (!m_thread.joinable()) return std::nullopt;
    clockid_t clock{};
    if (::pthread_getcpuclockid(m_thread.native_handle(), &clock) != 0) return std::nullopt;
    timespec used{};
    if (::clock_gettime(clock, &used) != 0) return std::nullopt;
    return std::chrono::seconds(used.tv_sec) + std::chrono::nanoseconds(used.tv_nsec);
}

void VcpuThread::request_pause() {
    {
        std::lock_guard guard(m_park_lock);
        m_pause.store(true, std::memory_order_release);
        // Set before the signal: a vCPU between its pause check and KVM_RUN returns at once.
        m_vcpu.set_immediate_exit(true);
    }
    if (m_thread.joinable()) ::pthread_kill(m_thread.native_handle(), kick_signal());
}

void VcpuThread::wait_parked() {
    if (!m_thread.joinable()) return;
    std::unique_lock lock(m_park_lock);
    m_park_changed.wait(lock, [this] { return m_parked || m_ended || !m_pause.load(); });
}

void VcpuThread::resume() {
    {
        std::lock_guard guard(m_park_lock);
        m_pause.store(false, std::memory_order_release);
    }
    m_park_changed.notify_all();
}

void VcpuThread::park() {
    {
        std::unique_lock lock(m_park_lock);
        if (m_pause.load(std::memory_order_acquire) && !m_stop.load(std::memory_order_acquire)) {
            VcpuExitCounters::add(m_counters.pauses);
            m_parked = true;
            m_park_changed.notify_all();
            m_park_changed.wait(lock, [this] {
                return !m_pause.load(std::memory_order_acquire) ||
                       m_stop.load(std::memory_order_acquire);
            });
            m_parked = false;
        }
        if (m_stop.load(std::memory_order_acquire)) return;
        if (!m_pause.load(std::memory_order_acquire)) m_vcpu.set_immediate_exit(false);
    }
    // The guest's clocks moved on while it was parked (kvmclock follows the host's); this sets
    // PVCLOCK_GUEST_STOPPED so its watchdogs do not report the gap as a soft lockup, as QEMU
    // does on resume. EINVAL means the guest does not use kvmclock: nothing to tell.
    (void)m_vcpu.kvmclock_ctrl();
}

void VcpuThread::run_loop() noexcept {
    sigset_t kick;
    sigemptyset(&kick);
    sigaddset(&kick, kick_signal());
    ::pthread_sigmask(SIG_UNBLOCK, &kick, nullptr);
    run_exits();
    {
        std::lock_guard guard(m_park_lock);
        m_ended = true;
    }
    m_park_changed.notify_all();
}

void VcpuThread::run_exits() {
    bool first = m_vcpu.id() == 0;
    while (!m_stop.load(std::memory_order_acquire)) {
        if (m_pause.load(std::memory_order_acquire)) {
            park();
            continue;
        }
        if (first) {
            // For scripts/bench/startup: CLOCK_MONOTONIC (steady_clock) at the first KVM_RUN.
            first = false;
            spdlog::debug("first KVM_RUN at monotonic {} ns",
                          std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::steady_clock::now().time_since_epoch())
                              .count());
        }
        auto exit = m_vcpu.run();
        if (!exit) {
            VcpuExitCounters::add(m_counters.failures);
            m_context.exit.request(exit_status::kHostError, exit.error().message());
            return;
        }
        if (!handle(*exit)) return;
    }
}

bool VcpuThread::handle(kvm::VcpuExit& exit) {
    using namespace kvm::exit;
    return std::visit(
        [this](auto& e) -> bool {
            using T = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<T, IoIn>) {
                VcpuExitCounters::add(m_counters.io_in);
                // String I/O: count elements of `size` bytes, each its own access.
                for (size_t at = 0; e.size > 0 && at + e.size <= e.data.size(); at += e.size) {
                    auto element = e.data.subspan(at, e.size);
                    if (!m_context.pio_bus.read(e.port, element)) {
                        std::ranges::fill(element, uint8_t{0xff});  // an absent ISA device
                        if (g_unmapped_pio_log.first())
                            spdlog::debug("guest read unmapped port {:#x} (further ones not logged)",
                                          e.port);
                    }
                }
                return true;
            } else if constexpr (std::is_same_v<T, IoOut>) {
                VcpuExitCounters::add(m_counters.io_out);
                for (size_t at = 0; e.size > 0 && at + e.size <= e.data.size(); at += e.size) {
                    if (!m_context.pio_bus.write(e.port, e.data.subspan(at, e.size)) &&
                        g_unmapped_pio_log.first())
                        spdlog::debug("guest wrote unmapped port {:#x} (further ones not logged)",
                                      e.port);
                }
                return true;
            } else if constexpr (std::is_same_v<T, MmioRead>) {
                VcpuExitCounters::add(m_counters.mmio_read);
                if (!m_context.mmio_bus.read(e.address, e.data)) {
                    std::ranges::fill(e.data, uint8_t{0});
                    if (g_unmapped_mmio_log.first())
                        spdlog::debug("guest read unmapped MMIO {:#x} (further ones not logged)",
                                      e.address);
                }
                return true;
            } else if constexpr (std::is_same_v<T, MmioWrite>) {
                VcpuExitCounters::add(m_counters.mmio_write);
                if (!m_context.mmio_bus.write(e.address, e.data) && g_unmapped_mmio_log.first())
                    spdlog::debug("guest wrote unmapped MMIO {:#x} (further ones not logged)",
                                  e.address);
                return true;
            } else if constexpr (std::is_same_v<T, Interrupted>) {
                VcpuExitCounters::add(m_counters.interrupted);
                // A kick, or a stop (the loop condition checks the stop flag). Kicks are served
                // only here: after an I/O exit the vCPU state is complete only once KVM_RUN has
                // run again (KVM API, KVM_RUN).
                uint64_t const round = m_kick_round.exchange(0, std::memory_order_acq_rel);
                if (round != 0 && !m_stop.load(std::memory_order_acquire)) on_kick(round);
                return true;
            } else if constexpr (std::is_same_v<T, Hlt>) {
                VcpuExitCounters::add(m_counters.hlt);
                // With the in-kernel irqchip KVM handles HLT itself; seeing it means the guest
                // halted for good.
                m_context.exit.request(exit_status::kGuestReset, "the guest halted");
                return false;
            } else if constexpr (std::is_same_v<T, Shutdown>) {
                VcpuExitCounters::add(m_counters.shutdown);
                report_crash("triple fault (KVM_EXIT_SHUTDOWN)");
                return false;
            } else if constexpr (std::is_same_v<T, SystemEvent>) {
                VcpuExitCounters::add(m_counters.system_event);
                if (e.type == KVM_SYSTEM_EVENT_CRASH) {
                    report_crash("guest crash event");
                } else {
                    m_context.exit.request(exit_status::kGuestReset,
                                           fmt::format("guest system event {}", e.type));
                }
                return false;
            } else if constexpr (std::is_same_v<T, FailEntry>) {
                VcpuExitCounters::add(m_counters.fail_entry);
                report_crash(fmt::format("VM entry failed, hardware reason {:#x}", e.reason));
                return false;
            } else if constexpr (std::is_same_v<T, InternalError>) {
                VcpuExitCounters::add(m_counters.internal_error);
                bool const emulation = e.suberror == KVM_INTERNAL_ERROR_EMULATION;
                // The pvm host profile's fallback; with the native profile it is null.
                if (emulation && m_context.pvm_quirks != nullptr &&
                    m_context.pvm_quirks->recover_emulation_failure(m_vcpu))
                    return true;
                report_crash(fmt::format("KVM internal error, suberror {}{}", e.suberror,
                                         emulation ? " (instruction emulation failed)" : ""),
                             emulation);
                return false;
            } else {
                static_assert(std::is_same_v<T, Unknown>);
                VcpuExitCounters::add(m_counters.unknown);
                m_context.exit.request(exit_status::kHostError,
                                       fmt::format("unexpected KVM exit reason {}", e.reason));
                return false;
            }
        },
        exit);
}

void VcpuThread::on_kick(uint64_t round) {
    if (m_context.pvm_quirks != nullptr) m_context.pvm_quirks->on_kick(m_vcpu);
    if (m_context.halt_watch == nullptr) return;
    auto const mp_state = m_vcpu.mp_state();
    auto const regs = m_vcpu.regs();
    if (!mp_state || !regs) return;
    m_context.halt_watch->report(m_vcpu.id(), round,
                                 VcpuSample{mp_state->mp_state, regs->rflags, regs->rip});
}

void VcpuThread::report_crash(std::string_view what, bool emulation_failure) {
    std::string details;
    auto regs = m_vcpu.regs();
    auto sregs = m_vcpu.sregs();
    if (regs && sregs) {
        details = format_registers(*regs, *sregs);
        // The instruction bytes at rip, through the guest's own address translation (an
        // instruction may cross into a page mapped elsewhere).
        auto const state = kvm::pvm::cpu_state(*regs, *sregs);
        kvm::pvm::Translate const translate = [this](uint64_t linear) -> std::optional<uint64_t> {
            auto translation = m_vcpu.translate(linear);
            if (!translation || !translation->valid) return std::nullopt;
            return translation->physical_address;
        };
        std::array<uint8_t, 16> bytes{};
        size_t const read = kvm::pvm::read_linear(kvm::pvm::code_address(state), bytes, translate,
                                                  read_guest_ram(m_context.memory));
        if (read > 0) {
            details += "\ncode at rip:";
            for (size_t i = 0; i < read; ++i) details += fmt::format(" {:02x}", bytes[i]);
        } else {
            details += "\ncode at rip: (not in guest RAM)";
        }
        if (emulation_failure)
            details += "\nhint: " +
                       kvm::pvm::emulation_failure_hint(std::span(bytes).first(read), state.mode,
                                                        m_context.pvm_quirks != nullptr);
    }
    spdlog::error("vCPU {}: guest crashed: {}\n{}", m_vcpu.id(), what, details);
    m_context.exit.request(exit_status::kGuestCrashed,
                           fmt::format("guest crashed on vCPU {}: {}", m_vcpu.id(), what));
}

}  // namespace vmm
