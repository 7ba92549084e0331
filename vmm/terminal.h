// SPDX-License-Identifier: Apache-2.0
// RawTerminal: puts a TTY in raw input mode for the guest console and restores it on
// destruction, so every exit path through main() leaves the user's terminal as it was.
#pragma once

#include <termios.h>

#include <optional>

namespace vmm {

class RawTerminal {
public:
    /// Raw mode on fd if it is a TTY; a no-op otherwise.
    explicit RawTerminal(int fd);
    RawTerminal(RawTerminal const&) = delete;
    RawTerminal& operator=(RawTerminal const&) = delete;
    ~RawTerminal() { restore(); }

    void restore();
    bool active() const { return m_saved.has_value(); }

private:
    int m_fd;
    std::optional<termios> m_saved;
};

}  // namespace vmm
