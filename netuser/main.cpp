// SPDX-License-Identifier: Apache-2.0
// wisp-net-user: user-mode networking for wisp's --net user. libslirp (a shared library, with
// glib) runs here, in its own dynamically linked process, so the wisp binary stays static and a
// fault in the TCP/IP emulation cannot reach guest memory. wisp starts it (vmm/user_net.cpp)
// with a SOCK_SEQPACKET socket for the frames and a pipe for its one status line
// (netuser/protocol.h says both). It ends when wisp closes the socket or dies.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "netuser/protocol.h"
#include "netuser/slirp_stack.h"
#include "vmm/base/log.h"

using namespace vmm;
using namespace vmm::netuser;

namespace {

struct Options {
    int socket_fd = kSocketFd;
    int status_fd = kStatusFd;
    pid_t parent_pid = 0;
    unsigned mtu = 0;
    std::vector<std::string> forwards;
    std::string log_level = "warn";
};

void report(int status_fd, StatusReport const& status) {
    std::string const line = format_status(status);
    // One short write to a pipe: atomic. If wisp is gone nobody reads it; exiting is right.
    if (::write(status_fd, line.data(), line.size()) < 0)
        spdlog::debug("writing the status: {}", std::strerror(errno));
    ::close(status_fd);
}

Result<void> check_socket(int fd) {
    int type = 0;
    socklen_t length = sizeof type;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) < 0)
        return fail_errno(fmt::format("--socket-fd {} is not a socket", fd), errno);
    if (type != SOCK_SEQPACKET)
        return fail(ErrorKind::Host, fmt::format("--socket-fd {} is not a SOCK_SEQPACKET socket", fd));
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    return {};
}

// Everything before the loop; the caller reports the outcome on the status pipe.
Result<std::unique_ptr<SlirpStack>> start(Options const& options) {
    TRY(check_socket(options.socket_fd));
    if (options.mtu != 0 && (options.mtu < 68 || options.mtu > 65521))
        return fail(ErrorKind::Usage,
                    fmt::format("mtu {} is out of range: use 68 to 65521", options.mtu));
    std::vector<HostForward> forwards;
    for (auto const& text : options.forwards) {
        auto forward = parse_forward(text);
        if (!forward)
            return fail(ErrorKind::Usage,
                        fmt::format("--hostfwd '{}' is not PROTO:ADDRESS:HOSTPORT-:GUESTPORT", text));
        forwards.push_back(*forward);
    }
    auto stack = TRY(SlirpStack::create(UniqueFd(options.socket_fd),
                                        StackOptions{.mtu = static_cast<uint16_t>(options.mtu)}));
    for (auto const& forward : forwards) TRY(stack->add_forward(forward));
    return stack;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"wisp-net-user: user-mode networking (libslirp) for wisp's --net user; wisp "
                 "starts it, see netuser/protocol.h",
                 kHelperName};
    Options options;
    app.add_option("--socket-fd", options.socket_fd, "the SOCK_SEQPACKET frame socket");
    app.add_option("--status-fd", options.status_fd, "where to write ready or the failure");
    app.add_option("--parent-pid", options.parent_pid, "exit if this process is gone");
    app.add_option("--mtu", options.mtu, "the guest network's MTU (default 1500)");
    app.add_option("--hostfwd", options.forwards, "PROTO:ADDRESS:HOSTPORT-:GUESTPORT (repeat)");
    app.add_option("--log-level", options.log_level, "trace, debug, info, warn, error, off");
    CLI11_PARSE(app, argc, argv);

    auto logger = spdlog::stderr_color_mt(kHelperName);
    logger->set_pattern(fmt::format("{}: %^%l%$: %v", kHelperName));
    logger->set_level(parse_log_level(options.log_level).value_or(spdlog::level::warn));
    spdlog::set_default_logger(logger);

    // Die with wisp, even if it cannot close the socket (SIGKILL). If it died before the
    // prctl, our parent is already someone else.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (options.parent_pid != 0 && ::getppid() != options.parent_pid) return 0;
    // Ctrl-C at wisp's terminal is wisp's to handle; we follow when it closes the socket.
    ::signal(SIGINT, SIG_IGN);
    ::signal(SIGPIPE, SIG_IGN);

    auto stack = start(options);
    if (!stack) {
        auto const kind = stack.error().kind() == ErrorKind::Usage ? StatusReport::Kind::Usage
                                                                     : StatusReport::Kind::Host;
        report(options.status_fd, {kind, stack.error().message()});
        return kind == StatusReport::Kind::Usage ? 64 : 70;
    }
    report(options.status_fd, {StatusReport::Kind::Ready, {}});
    auto result = (*stack)->run();
    auto const& counters = (*stack)->counters();
    if (counters.runts + counters.oversized + counters.guest_errors > 0)
        spdlog::info("dropped from the guest: {} short frames, {} oversized frames, {} malformed "
                     "packets",
                     counters.runts, counters.oversized, counters.guest_errors);
    if (!result) {
        spdlog::error("{}", result.error());
        return 70;
    }
    return 0;
}
