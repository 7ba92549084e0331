// SPDX-License-Identifier: Apache-2.0
// RawTerminal implementation.
#include "vmm/terminal.h"

#include <unistd.h>

namespace vmm {

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
    if (::tcsetattr(fd, TCSANOW, &raw) == 0) m_saved = saved;
}

void RawTerminal::restore() {
    if (!m_saved) return;
    ::tcsetattr(m_fd, TCSANOW, &*m_saved);
    m_saved.reset();
}

}  // namespace vmm
