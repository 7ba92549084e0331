// SPDX-License-Identifier: Apache-2.0
// The real binaries: the static wisp refuses bad front-end usage itself and execs wisp-api (same
// pid) to serve a socket; SIGTERM ends it cleanly and removes the socket.
#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <climits>
#include <string>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/temp_file.h"

namespace {

using vmm::test::run_process;

bool exists(std::string const& path) {
    struct stat info {};
    return ::lstat(path.c_str(), &info) == 0;
}

/// Waits (inotify, no polling loop) until `name` appears in `dir`, or the deadline passes.
bool wait_for_file(std::string const& dir, std::string const& name, int inotify_fd) {
    std::string const path = dir + "/" + name;
    for (int rounds = 0; rounds < 100 && !exists(path); ++rounds) {
        pollfd fd{inotify_fd, POLLIN, 0};
        if (::poll(&fd, 1, 20000) <= 0) return exists(path);
        std::array<char, 4096> buffer{};
        if (::read(inotify_fd, buffer.data(), buffer.size()) < 0) return false;
    }
    return exists(path);
}

}  // namespace

TEST_CASE("The --api-sock option refuses a path that already exists", "[api-binary]") {
    vmm::test::TempDir dir;
    std::string const taken = dir.write("api.sock", "not a socket");
    auto result = run_process({WISP_BINARY, "--api-sock", taken});
    CHECK(result.status == 64);
    CHECK_THAT(result.err, Catch::Contains("already exists: remove it"));
    CHECK(vmm::test::read_file(taken).size() == 12);  // untouched
}

TEST_CASE("The serve command without a socket or a config file is a usage error",
          "[api-binary]") {
    auto result = run_process({WISP_BINARY, "serve"});
    CHECK(result.status == 64);
    CHECK_THAT(result.err, Catch::Contains("give --api-sock PATH"));
    auto no_api = run_process({WISP_BINARY, "serve", "--no-api"});
    CHECK(no_api.status == 64);
    CHECK_THAT(no_api.err, Catch::Contains("--no-api needs --config-file"));
    auto bad_level = run_process({WISP_BINARY, "--api-sock", "/tmp/x.sock", "--level", "Loud"});
    CHECK(bad_level.status == 64);
    CHECK_THAT(bad_level.err, Catch::Contains("--level 'Loud'"));
}

TEST_CASE("A bad config file is refused before anything runs", "[api-binary]") {
    vmm::test::TempDir dir;
    std::string const file = dir.write("vm.json", R"({"boot-source": {"kernel_image_path": "/no/k"}, "drives": []})");
    auto result = run_process({WISP_BINARY, "--config-file", file, "--no-api"});
    CHECK(result.status == 64);
    CHECK_THAT(result.err, Catch::Contains("vm.json: boot-source: field 'kernel_image_path'"));
    auto missing = run_process({WISP_BINARY, "--config-file", dir.path() + "/none.json", "--no-api"});
    CHECK(missing.status == 66);
}

TEST_CASE("A missing wisp-api program is a clear error", "[api-binary]") {
    vmm::test::TempDir dir;
    ::setenv("WISP_API", (dir.path() + "/no-wisp-api").c_str(), 1);
    auto result = run_process({WISP_BINARY, "--api-sock", dir.path() + "/api.sock"});
    ::unsetenv("WISP_API");
    CHECK(result.status == 70);
    CHECK_THAT(result.err, Catch::Contains("needs the wisp-api program"));
    CHECK_FALSE(exists(dir.path() + "/api.sock"));
}

TEST_CASE("The static wisp hands the socket to wisp-api in the same process and SIGTERM ends it",
          "[api-binary]") {
    vmm::test::TempDir dir;
    std::string const socket = dir.path() + "/api.sock";
    int const inotify_fd = ::inotify_init1(IN_CLOEXEC);
    REQUIRE(inotify_fd >= 0);
    REQUIRE(::inotify_add_watch(inotify_fd, dir.path().c_str(), IN_CREATE) >= 0);
    pid_t const pid = ::fork();
    if (pid == 0) {
        ::setenv("WISP_API", WISP_API_BINARY, 1);
        ::execl(WISP_BINARY, WISP_BINARY, "--api-sock", socket.c_str(), "--id", "vm-7",
                static_cast<char*>(nullptr));
        ::_exit(127);
    }
    REQUIRE(pid > 0);
    bool const appeared = wait_for_file(dir.path(), "api.sock", inotify_fd);
    ::close(inotify_fd);
    if (!appeared) ::kill(pid, SIGKILL);
    REQUIRE(appeared);

    // The pid the client started now runs wisp-api.
    std::array<char, PATH_MAX> exe{};
    ssize_t const n = ::readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), exe.data(),
                                 exe.size() - 1);
    REQUIRE(n > 0);
    CHECK_THAT(std::string(exe.data(), static_cast<size_t>(n)), Catch::EndsWith("/wisp-api"));

    auto info = run_process({CURL_BINARY, "--silent", "--unix-socket", socket, "http://localhost/"});
    CHECK(info.status == 0);
    CHECK_THAT(info.out, Catch::Contains(R"("id":"vm-7")"));
    CHECK_THAT(info.out, Catch::Contains(R"("state":"Not started")"));

    REQUIRE(::kill(pid, SIGTERM) == 0);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 143);
    CHECK_FALSE(exists(socket));
}
