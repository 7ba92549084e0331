// SPDX-License-Identifier: Apache-2.0
#include "vmm/terminal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include <catch2/catch.hpp>

namespace {
struct Pty {
    int master = -1;
    int slave = -1;
    Pty() {
        master = ::posix_openpt(O_RDWR | O_NOCTTY);
        if (master >= 0 && ::grantpt(master) == 0 && ::unlockpt(master) == 0)
            slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY);
    }
    ~Pty() {
        if (slave >= 0) ::close(slave);
        if (master >= 0) ::close(master);
    }
};
termios attributes(int fd) {
    termios t{};
    REQUIRE(::tcgetattr(fd, &t) == 0);
    return t;
}
}  // namespace

TEST_CASE("RawTerminal makes a TTY raw for input and restores it exactly", "[terminal]") {
    Pty pty;
    REQUIRE(pty.slave >= 0);
    termios const before = attributes(pty.slave);
    REQUIRE((before.c_lflag & ICANON) != 0);
    {
        vmm::RawTerminal raw(pty.slave);
        CHECK(raw.active());
        termios const during = attributes(pty.slave);
        CHECK((during.c_lflag & (ICANON | ECHO | ISIG)) == 0);
        CHECK((during.c_iflag & (ICRNL | IXON)) == 0);
        CHECK(during.c_oflag == before.c_oflag);  // output processing stays as it was
    }
    termios const after = attributes(pty.slave);
    CHECK(after.c_lflag == before.c_lflag);
    CHECK(after.c_iflag == before.c_iflag);
    CHECK(after.c_oflag == before.c_oflag);
}

TEST_CASE("RawTerminal leaves a non-TTY alone", "[terminal]") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    vmm::RawTerminal raw(fds[0]);
    CHECK_FALSE(raw.active());
    ::close(fds[0]);
    ::close(fds[1]);
}
