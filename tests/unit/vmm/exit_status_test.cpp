// SPDX-License-Identifier: Apache-2.0
// Exit statuses: the documented table and the first-wins exit request.
#include <catch2/catch.hpp>

#include <poll.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "vmm/exit_status.h"

namespace {

using namespace vmm;

bool readable(int fd) {
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    int const n = ::poll(&p, 1, 0);
    REQUIRE(n >= 0);
    return n == 1 && (p.revents & POLLIN) != 0;
}

std::vector<int> const kAllStatuses{
    exit_status::kGuestReset,      exit_status::kUsage,      exit_status::kBadImage,
    exit_status::kNoInput,         exit_status::kKvmUnavailable, exit_status::kHostError,
    exit_status::kGuestCrashed,    exit_status::kInterrupted, exit_status::kTerminated};

}  // namespace

TEST_CASE("Each error kind maps to its documented exit status", "[exit]") {
    CHECK(exit_status_for(ErrorKind::Host) == 70);
    CHECK(exit_status_for(ErrorKind::Usage) == 64);
    CHECK(exit_status_for(ErrorKind::Input) == 66);
    CHECK(exit_status_for(ErrorKind::Image) == 65);
    CHECK(exit_status_for(ErrorKind::Unavailable) == 69);
    CHECK(exit_status_for(ErrorKind::Host) == exit_status::kHostError);
    CHECK(exit_status_for(ErrorKind::Usage) == exit_status::kUsage);
    CHECK(exit_status_for(ErrorKind::Input) == exit_status::kNoInput);
    CHECK(exit_status_for(ErrorKind::Image) == exit_status::kBadImage);
    CHECK(exit_status_for(ErrorKind::Unavailable) == exit_status::kKvmUnavailable);
}

TEST_CASE("An out-of-range error kind maps to the host error status", "[exit]") {
    CHECK(exit_status_for(static_cast<ErrorKind>(200)) == exit_status::kHostError);
}

TEST_CASE("The exit statuses are distinct and fit in a process exit status", "[exit]") {
    std::set<int> const unique(kAllStatuses.begin(), kAllStatuses.end());
    CHECK(unique.size() == kAllStatuses.size());
    for (int status : kAllStatuses) {
        CHECK(status >= 0);
        CHECK(status <= 255);
    }
    CHECK(exit_status::kInterrupted == 128 + 2);  // shell convention: 128 + SIGINT
    CHECK(exit_status::kTerminated == 128 + 15);  // 128 + SIGTERM
}

TEST_CASE("The exit status table lists every status", "[exit]") {
    std::string const table(exit_status_table());
    for (int status : kAllStatuses) {
        INFO("status " << status);
        CHECK(table.find("\n  " + std::to_string(status) + " ") != std::string::npos);
    }
    CHECK(table.find("0xf4") != std::string::npos);  // the exit device's statuses
}

TEST_CASE("The first exit request wins and wakes the event fd", "[exit]") {
    auto created = ExitRequest::create();
    REQUIRE(created);
    ExitRequest request = std::move(*created);
    CHECK_FALSE(request.requested());
    CHECK_FALSE(readable(request.event().fd()));

    CHECK(request.request(exit_status::kGuestCrashed, "triple fault"));
    CHECK(request.requested());
    CHECK(readable(request.event().fd()));
    CHECK_FALSE(request.request(exit_status::kTerminated, "SIGTERM"));
    CHECK_FALSE(request.request(0, ""));
    CHECK(request.status() == exit_status::kGuestCrashed);
    CHECK(request.reason() == "triple fault");
    CHECK(request.requested());
}

TEST_CASE("A request with status 0 still counts as requested", "[exit]") {
    auto request = ExitRequest::create();
    REQUIRE(request);
    CHECK(request->request(0, "reset"));
    CHECK(request->requested());
    CHECK(request->status() == 0);
    CHECK_FALSE(request->request(1, "later"));
    CHECK(request->status() == 0);
    CHECK(request->reason() == "reset");
}

TEST_CASE("Of concurrent exit requests exactly one wins, and its status is kept", "[exit]") {
    auto request = ExitRequest::create();
    REQUIRE(request);
    constexpr int kThreads = 8;
    std::atomic<int> winners{0};
    std::atomic<int> winning_status{-1};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
        threads.emplace_back([&, i] {
            if (request->request(i + 1, "thread " + std::to_string(i + 1))) {
                ++winners;
                winning_status = i + 1;
            }
        });
    }
    for (auto& thread : threads) thread.join();
    CHECK(winners == 1);
    CHECK(request->status() == winning_status);
    CHECK(request->reason() == "thread " + std::to_string(winning_status.load()));
    CHECK(readable(request->event().fd()));
}
