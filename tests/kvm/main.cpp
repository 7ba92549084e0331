// SPDX-License-Identifier: Apache-2.0
// Catch2 main for tests that need /dev/kvm: exits 77 (ctest: skipped) and says why when the
// host has none.
#define CATCH_CONFIG_RUNNER
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <catch2/catch.hpp>

int main(int argc, char** argv) {
    bool const listing = argc > 1 && (std::strncmp(argv[1], "--list", 6) == 0);
    int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0 && !listing) {
        std::printf("SKIPPED: cannot open /dev/kvm (%s): these tests run guests on KVM; run them "
                    "on a host with KVM (or nested virtualisation) enabled\n",
                    std::strerror(errno));
        return 77;
    }
    if (fd >= 0) ::close(fd);
    return Catch::Session().run(argc, argv);
}
