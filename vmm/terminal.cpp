// SPDX-License-Identifier: Apache-2.0
// RawTerminal implementation.
#include "vmm/terminal.h"

#include <signal.h>
#include <unistd.h>

namespace vmm {

namespace {
// For the fatal-signal handler: the terminal to put back if wisp itself crashes.
int g_fatal_fd = -1;
termios g_fatal_saved{};

void restore_on_fatal_signal(int signal) {
    if (g_fatal_fd >= 0) ::tcsetattr(g_fatal_fd, TCSANOW, &g_fatal_saved);  // async-signal-safe
    ::signal(signal, SIG_DFL);
    ::raise(signal);
}

void install_fatal_handlers() {
    struct sigaction action {};
    action.sa_handler = restore_on_fatal_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND;
    for (int signal : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) ::sigaction(signal, &action, nullptr);
}
}  // namespace

RawTerminal::RawTerminal(int fd) : m_fd(fd) {
    termios saved{};
    if (!::isatty(fd) || ::tcgetattr(fd, &saved) < 0) return;
    termios raw = saved;
    // Input goes to the guest byte for byte: no line editing, echo or signal keys (Ctrl-C
    // reaches the guest; Ctrl-A x ends wisp). Output processing stays on.
    raw.c_iflag &= ~static_cast<tcflag_t>(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR |
                                          ICRNL | IXON);
    raw.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    if (::tcsetattr(fd, TCSANOW, &raw) != 0) return;
    m_saved = saved;
    // Even a crash of wisp itself must not leave the user's terminal raw.
    g_fatal_saved = saved;
    g_fatal_fd = fd;
    install_fatal_handlers();
}

void RawTerminal::restore() {
    if (!m_saved) return;
    ::tcsetattr(m_fd, TCSANOW, &*m_saved);
    m_saved.reset();
    g_fatal_fd = -1;
}

}  // namespace vmm
