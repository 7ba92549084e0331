// SPDX-License-Identifier: Apache-2.0
// run_process implementation: fork/exec with pipes, poll until exit or deadline.
#include "tests/support/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace vmm::test {

ProcessResult run_process(std::vector<std::string> const& argv, ProcessOptions const& options) {
    auto const& input = options.input;
    auto const timeout = options.timeout;
    bool signalled = false;
    ProcessResult result;
    int in_pipe[2], out_pipe[2], err_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) || ::pipe2(out_pipe, O_CLOEXEC) || ::pipe2(err_pipe, O_CLOEXEC))
        return result;
    ::signal(SIGPIPE, SIG_IGN);
    pid_t pid = ::fork();
    if (pid == 0) {
        if (input) {
            ::dup2(in_pipe[0], 0);
        } else {
            int null = ::open("/dev/null", O_RDONLY);
            ::dup2(null, 0);
        }
        ::dup2(out_pipe[1], 1);
        ::dup2(err_pipe[1], 2);
        std::vector<char*> args;
        for (auto const& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        _exit(127);
    }
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    auto write_all = [&](std::string const& text) {
        // Small inputs fit in the pipe buffer.
        size_t done = 0;
        while (done < text.size()) {
            ssize_t n = ::write(in_pipe[1], text.data() + done, text.size() - done);
            if (n <= 0) break;
            done += static_cast<size_t>(n);
        }
    };
    if (input) write_all(*input);
    if (!options.later_input) {
        ::close(in_pipe[1]);  // the child sees EOF
        in_pipe[1] = -1;
    }

    auto const deadline = std::chrono::steady_clock::now() + timeout;
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            ::kill(pid, SIGKILL);
            result.timed_out = true;
            break;
        }
        int n = ::poll(fds, 2, static_cast<int>(left.count()));
        if (n < 0 && errno == EINTR) continue;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buffer[4096];
            ssize_t got = ::read(fds[i].fd, buffer, sizeof buffer);
            if (got <= 0) {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open_fds;
                continue;
            }
            (i == 0 ? result.out : result.err).append(buffer, static_cast<size_t>(got));
        }
        if (!signalled && options.signal_when_output &&
            result.out.find(*options.signal_when_output) != std::string::npos) {
            if (options.signal) ::kill(pid, options.signal);
            if (options.later_input && in_pipe[1] >= 0) {
                write_all(*options.later_input);
                ::close(in_pipe[1]);
                in_pipe[1] = -1;
            }
            signalled = true;
        }
    }
    for (auto& f : fds)
        if (f.fd >= 0) ::close(f.fd);
    if (in_pipe[1] >= 0) ::close(in_pipe[1]);
    int wstatus = 0;
    while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(wstatus)) result.status = WEXITSTATUS(wstatus);
    else if (WIFSIGNALED(wstatus)) result.status = 128 + WTERMSIG(wstatus);
    return result;
}

}  // namespace vmm::test
