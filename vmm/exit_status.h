// SPDX-License-Identifier: Apache-2.0
// The one table of wisp's exit statuses, shared by every front end, and the first-wins exit
// request that vCPU threads, devices and signals use to end a machine.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "vmm/base/event_fd.h"
#include "vmm/base/result.h"

namespace vmm {

namespace exit_status {
inline constexpr int kGuestReset = 0;       // reset request (i8042) or poweroff
inline constexpr int kUsage = 64;           // bad command line
inline constexpr int kBadImage = 65;        // kernel or initrd not loadable
inline constexpr int kNoInput = 66;         // a named file cannot be opened or read
inline constexpr int kKvmUnavailable = 69;  // /dev/kvm missing, forbidden or lacking a capability
inline constexpr int kHostError = 70;       // the host failed while building or running
inline constexpr int kGuestCrashed = 80;    // triple fault, KVM internal error, failed entry
inline constexpr int kInterrupted = 130;    // SIGINT or the console escape (Ctrl-A x)
inline constexpr int kTerminated = 143;     // SIGTERM
}  // namespace exit_status

/// The exit status for a setup failure of this kind.
int exit_status_for(ErrorKind kind);

/// The table as printed by `wisp run --help` and in the README.
std::string_view exit_status_table();

/// Records why the machine should stop. The first request wins; later ones are ignored.
/// Thread-safe; wakes the event loop through event().
class ExitRequest {
public:
    static Result<ExitRequest> create();
    /// Returns true if this was the first request.
    bool request(int status, std::string reason);
    bool requested() const { return m_state->requested.load(std::memory_order_acquire); }
    int status() const;
    std::string reason() const;
    EventFd const& event() const { return m_event; }

private:
    struct State {
        std::mutex lock;
        std::atomic<bool> requested{false};
        int status = 0;
        std::string reason;
    };
    explicit ExitRequest(EventFd event)
        : m_event(std::move(event)), m_state(std::make_unique<State>()) {}
    EventFd m_event;
    std::unique_ptr<State> m_state;  // movable owner of the non-movable lock
};

}  // namespace vmm
