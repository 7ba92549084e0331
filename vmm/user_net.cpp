// SPDX-License-Identifier: Apache-2.0
// start_user_network: finds wisp-net-user, starts it with one end of a SOCK_SEQPACKET socket
// pair and a status pipe, and waits (poll, with a deadline) for its one status line.
#include "vmm/user_net.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "netuser/protocol.h"

extern char** environ;

namespace vmm {

namespace {

// Starting a dynamically linked program takes milliseconds; on a nested, emulated host it can
// take seconds. Past this the helper is taken for hung.
constexpr auto kReadyTimeout = std::chrono::seconds(30);

struct HelperPath {
    std::string path;
    std::string looked;  // where it was looked for, for the message when it is missing
};

Result<HelperPath> find_helper() {
    if (char const* env = std::getenv("WISP_NET_USER"); env != nullptr && *env != '\0')
        return HelperPath{env, fmt::format("{} (from WISP_NET_USER)", env)};
    char self[PATH_MAX];
    ssize_t const n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0) return fail_errno("readlink /proc/self/exe (to find wisp-net-user)", errno);
    std::string dir(self, static_cast<size_t>(n));
    dir.resize(dir.rfind('/') + 1);  // an absolute path: there is a '/'
    std::string path = dir + netuser::kHelperName;
    return HelperPath{path, fmt::format("{} (next to the wisp binary)", path)};
}

// Reaps the helper after a failed start; it exits by itself, the kill makes sure.
void stop_helper(pid_t pid) {
    ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
}

std::string describe_exit(pid_t pid) {
    int status = 0;
    pid_t r;
    while ((r = ::waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    if (r < 0) return "ended";
    if (WIFEXITED(status)) {
        if (WEXITSTATUS(status) == 127)
            return "exited with status 127 (could it load libslirp.so.0? apt-get install "
                   "libslirp0)";
        return fmt::format("exited with status {}", WEXITSTATUS(status));
    }
    if (WIFSIGNALED(status)) return fmt::format("was killed by signal {}", WTERMSIG(status));
    return "ended";
}

std::vector<std::string> helper_arguments(std::string const& path, NetConfig const& config) {
    std::vector<std::string> args{path, "--socket-fd", std::to_string(netuser::kSocketFd),
                                  "--status-fd", std::to_string(netuser::kStatusFd),
                                  "--parent-pid", std::to_string(::getpid())};
    if (config.mtu != 0) {
        args.push_back("--mtu");
        args.push_back(std::to_string(config.mtu));
    }
    for (auto const& forward : config.forwards) {
        args.push_back("--hostfwd");
        args.push_back(netuser::format_forward(forward));
    }
    if (spdlog::should_log(spdlog::level::debug)) {
        args.push_back("--log-level");
        args.push_back(spdlog::should_log(spdlog::level::trace) ? "trace" : "debug");
    }
    return args;
}

// posix_spawn with the frame socket on fd 3, the status pipe on fd 4, stdin from /dev/null,
// stdout to our stderr (stdout is the guest's console), default signal dispositions and an
// empty mask. Every other fd of ours is O_CLOEXEC.
Result<pid_t> spawn_helper(std::vector<std::string> const& args, int socket_fd, int status_fd) {
    // dup2 onto 3 and 4 must not clobber a source that is 3 or 4: move both above first
    // (O_CLOEXEC, so these copies vanish at exec).
    UniqueFd socket_high(::fcntl(socket_fd, F_DUPFD_CLOEXEC, 10));
    UniqueFd status_high(::fcntl(status_fd, F_DUPFD_CLOEXEC, 10));
    if (!socket_high || !status_high) return fail_errno("fcntl F_DUPFD_CLOEXEC", errno);

    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, 2, 1);
    posix_spawn_file_actions_adddup2(&actions, socket_high.get(), netuser::kSocketFd);
    posix_spawn_file_actions_adddup2(&actions, status_high.get(), netuser::kStatusFd);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

    std::vector<char*> argv;
    for (auto const& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    pid_t pid = -1;
    int const error = ::posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (error != 0) return fail_errno(fmt::format("starting {}", args[0]), error);
    return pid;
}

// Reads the helper's status line, waiting at most until `deadline`. nullopt: end of file
// (the helper died) or the deadline.
Result<std::optional<std::string>> read_status(int fd,
                                               std::chrono::steady_clock::time_point deadline,
                                               bool& timed_out) {
    std::string line;
    for (;;) {
        auto const left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            return std::nullopt;
        }
        pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
        int const ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0) {
            if (errno == EINTR) continue;
            return fail_errno("poll (waiting for wisp-net-user)", errno);
        }
        if (ready == 0) continue;  // the deadline check above ends it
        char buffer[512];
        ssize_t const n = ::read(fd, buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return fail_errno("reading wisp-net-user's status", errno);
        }
        if (n == 0) {
            if (line.empty()) return std::nullopt;
            return line;
        }
        line.append(buffer, static_cast<size_t>(n));
        if (line.find('\n') != std::string::npos || line.size() > 4096) return line;
    }
}

}  // namespace

Result<UserNetwork> start_user_network(NetConfig const& config) {
    auto const helper = TRY(find_helper());
    if (::access(helper.path.c_str(), X_OK) != 0)
        return fail(ErrorKind::Host,
                    fmt::format("--net user needs the helper program {}, and there is none at {}; "
                                "install it next to wisp, or set WISP_NET_USER to its path",
                                netuser::kHelperName, helper.looked));

    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
        return fail_errno("socketpair(AF_UNIX, SOCK_SEQPACKET)", errno);
    UniqueFd ours(pair[0]);
    UniqueFd theirs(pair[1]);
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) < 0) return fail_errno("pipe2", errno);
    UniqueFd status_read(pipe_fds[0]);
    UniqueFd status_write(pipe_fds[1]);

    auto const args = helper_arguments(helper.path, config);
    pid_t const pid = TRY(spawn_helper(args, theirs.get(), status_write.get()));
    // Only the helper keeps its ends: the socket's end of file and the pipe's then mean it
    // is gone.
    theirs.reset();
    status_write.reset();

    bool timed_out = false;
    auto const line = read_status(status_read.get(),
                                  std::chrono::steady_clock::now() + kReadyTimeout, timed_out);
    if (!line) {
        stop_helper(pid);
        return std::unexpected(line.error());
    }
    if (timed_out) {
        stop_helper(pid);
        return fail(ErrorKind::Host, fmt::format("{} did not report ready within {} s",
                                                 helper.path, kReadyTimeout.count()));
    }
    if (!*line)
        return fail(ErrorKind::Host, fmt::format("{} {} before it was ready", helper.path,
                                                 describe_exit(pid)));
    auto const status = netuser::parse_status(**line);
    if (!status) {
        stop_helper(pid);
        return fail(ErrorKind::Host,
                    fmt::format("{} reported something unexpected: '{}'", helper.path, **line));
    }
    switch (status->kind) {
    case netuser::StatusReport::Kind::Ready:
        spdlog::debug("--net user: {} is ready (pid {})", helper.path, pid);
        return UserNetwork{.socket = std::move(ours), .pid = pid};
    case netuser::StatusReport::Kind::Usage:
        stop_helper(pid);
        return fail(ErrorKind::Usage, fmt::format("--net user: {}", status->message));
    case netuser::StatusReport::Kind::Host:
        stop_helper(pid);
        return fail(ErrorKind::Host, fmt::format("--net user: {}", status->message));
    }
    stop_helper(pid);
    return fail(ErrorKind::Host, "wisp-net-user: unknown status");
}

}  // namespace vmm
