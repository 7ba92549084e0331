// SPDX-License-Identifier: Apache-2.0
// Exit statuses.
#include "vmm/exit_status.h"

namespace vmm {

int exit_status_for(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::Host: return exit_status::kHostError;
        case ErrorKind::Usage: return exit_status::kUsage;
        case ErrorKind::Input: return exit_status::kNoInput;
        case ErrorKind::Image: return exit_status::kBadImage;
        case ErrorKind::Unavailable: return exit_status::kKvmUnavailable;
    }
    return exit_status::kHostError;
}

std::string_view exit_status_table() {
    return "Exit status:\n"
           "  0       the guest requested a reset (e.g. reboot with reboot=k) or powered off\n"
           "  N       the guest wrote N (0-255) to the exit device, I/O port 0xf4\n"
           "  64      bad usage: unknown option or invalid value\n"
           "  65      the kernel or initrd is not a loadable image, or does not fit in memory\n"
           "  66      a file named on the command line cannot be opened or read\n"
           "  69      KVM is unavailable: /dev/kvm missing, not permitted, or lacking a feature\n"
           "  70      host error while building or running the machine\n"
           "  80      the guest crashed: triple fault, KVM emulation failure, failed VM entry\n"
           "  130     ended by SIGINT or the console escape Ctrl-A x\n"
           "  143     ended by SIGTERM\n";
}

Result<ExitRequest> ExitRequest::create() {
    auto event = TRY(EventFd::create());
    return ExitRequest(std::move(event));
}

bool ExitRequest::request(int status, std::string reason) {
    {
        std::lock_guard guard(m_state->lock);
        if (m_state->requested.load(std::memory_order_relaxed)) return false;
        m_state->status = status;
        m_state->reason = std::move(reason);
        m_state->requested.store(true, std::memory_order_release);
    }
    m_event.signal();
    return true;
}

int ExitRequest::status() const {
    std::lock_guard guard(m_state->lock);
    return m_state->status;
}

std::string ExitRequest::reason() const {
    std::lock_guard guard(m_state->lock);
    return m_state->reason;
}

}  // namespace vmm
