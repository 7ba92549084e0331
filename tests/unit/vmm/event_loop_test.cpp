// SPDX-License-Identifier: Apache-2.0
// EventLoop: dispatch, removal during dispatch, modify, stop from another thread.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <system_error>
#include <thread>

#include "tests/support/temp_file.h"
#include "vmm/base/event_fd.h"
#include "vmm/base/unique_fd.h"
#include "vmm/event_loop.h"

namespace {

using namespace vmm;

std::unique_ptr<EventLoop> make_loop() {
    auto loop = EventLoop::create();
    REQUIRE(loop);
    return std::move(*loop);
}

EventFd make_event() {
    auto event = EventFd::create();
    REQUIRE(event);
    return std::move(*event);
}

}  // namespace

TEST_CASE("A handler fires when its eventfd is signalled", "[loop]") {
    auto loop = make_loop();
    auto event = make_event();
    int calls = 0;
    uint32_t seen = 0;
    REQUIRE(loop->add(event.fd(), EPOLLIN, [&](uint32_t events) {
        ++calls;
        seen = events;
        CHECK(event.consume() == 2);
        loop->stop();
    }));
    event.signal();
    event.signal();
    REQUIRE(loop->run());
    CHECK(calls == 1);
    CHECK((seen & EPOLLIN) != 0);
}

TEST_CASE("A handler can be called again on a later round", "[loop]") {
    auto loop = make_loop();
    auto event = make_event();
    int calls = 0;
    REQUIRE(loop->add(event.fd(), EPOLLIN, [&](uint32_t) {
        event.consume();
        if (++calls < 3)
            event.signal();
        else
            loop->stop();
    }));
    event.signal();
    REQUIRE(loop->run());
    CHECK(calls == 3);
}

TEST_CASE("A handler can remove itself during dispatch", "[loop]") {
    auto loop = make_loop();
    auto event = make_event();
    auto probe = make_event();
    int calls = 0;
    std::string seen;
    std::string const captured = "still alive";
    REQUIRE(loop->add(event.fd(), EPOLLIN, [&, captured](uint32_t) {
        ++calls;
        loop->remove(event.fd());
        seen = captured;  // the handler's own state must outlive its removal
        // Not consumed: if the fd were still registered it would fire again.
    }));
    REQUIRE(loop->add(probe.fd(), EPOLLIN, [&](uint32_t) {
        probe.consume();
        loop->stop();
    }));
    event.signal();
    probe.signal();
    REQUIRE(loop->run());
    probe.signal();
    REQUIRE(loop->run());
    CHECK(calls == 1);
    CHECK(seen == "still alive");
}

TEST_CASE("A handler that removes another ready fd prevents its dispatch", "[loop]") {
    auto loop = make_loop();
    auto a = make_event();
    auto b = make_event();
    int calls_a = 0, calls_b = 0;
    REQUIRE(loop->add(a.fd(), EPOLLIN, [&](uint32_t) {
        ++calls_a;
        a.consume();  // else it fires again in the round that sees the stop
        loop->remove(b.fd());
        loop->stop();
    }));
    REQUIRE(loop->add(b.fd(), EPOLLIN, [&](uint32_t) {
        ++calls_b;
        b.consume();
        loop->remove(a.fd());
        loop->stop();
    }));
    // Both ready before run(): they come back in the same epoll_wait round.
    a.signal();
    b.signal();
    REQUIRE(loop->run());
    CHECK(calls_a + calls_b == 1);
}

TEST_CASE("stop() from another thread ends run()", "[loop]") {
    auto loop = make_loop();
    std::thread stopper([&] { loop->stop(); });
    auto result = loop->run();
    stopper.join();
    CHECK(result);
}

TEST_CASE("stop() ends run() while handlers are still busy", "[loop]") {
    auto loop = make_loop();
    auto busy = make_event();
    int calls = 0;
    REQUIRE(loop->add(busy.fd(), EPOLLIN, [&](uint32_t) { ++calls; }));  // never consumed
    busy.signal();
    std::thread stopper([&] { loop->stop(); });
    auto result = loop->run();
    stopper.join();
    CHECK(result);
}

TEST_CASE("modify() to no events stops dispatch, modify() back resumes it", "[loop]") {
    auto loop = make_loop();
    auto event = make_event();
    auto probe = make_event();
    int calls = 0;
    REQUIRE(loop->add(event.fd(), EPOLLIN, [&](uint32_t) {
        ++calls;
        REQUIRE(loop->modify(event.fd(), 0));  // left signalled on purpose
        probe.signal();
    }));
    REQUIRE(loop->add(probe.fd(), EPOLLIN, [&](uint32_t) {
        probe.consume();
        loop->stop();
    }));
    event.signal();
    REQUIRE(loop->run());  // event fires once, then the probe ends the run
    CHECK(calls == 1);
    probe.signal();
    REQUIRE(loop->run());
    CHECK(calls == 1);

    REQUIRE(loop->modify(event.fd(), EPOLLIN));
    REQUIRE(loop->run());
    CHECK(calls == 2);
}

TEST_CASE("Adding an fd twice, a closed fd or a regular file fails", "[loop]") {
    auto loop = make_loop();
    auto event = make_event();
    REQUIRE(loop->add(event.fd(), EPOLLIN, [](uint32_t) {}));
    auto twice = loop->add(event.fd(), EPOLLIN, [](uint32_t) {});
    REQUIRE_FALSE(twice);
    CHECK(twice.error().code() == std::errc::file_exists);

    CHECK_FALSE(loop->add(-1, EPOLLIN, [](uint32_t) {}));

    test::TempDir dir;
    auto const path = dir.write("file", std::string("x"));
    UniqueFd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(file);
    auto regular = loop->add(file.get(), EPOLLIN, [](uint32_t) {});
    REQUIRE_FALSE(regular);
    // ConsoleInput relies on this code to recognise stdin redirected from a file.
    CHECK(regular.error().code() == std::errc::operation_not_permitted);
    CHECK(regular.error().kind() == ErrorKind::Host);
}

TEST_CASE("A failed add leaves the existing handler in place", "[loop]") {
    auto loop = make_loop();
    auto event = make_event();
    int first = 0, second = 0;
    REQUIRE(loop->add(event.fd(), EPOLLIN, [&](uint32_t) {
        ++first;
        event.consume();
        loop->stop();
    }));
    CHECK_FALSE(loop->add(event.fd(), EPOLLIN, [&](uint32_t) { ++second; }));
    event.signal();
    REQUIRE(loop->run());
    CHECK(first == 1);
    CHECK(second == 0);
}

TEST_CASE("modify() of an unregistered fd fails and remove() of one is harmless", "[loop]") {
    auto loop = make_loop();
    auto event = make_event();
    CHECK_FALSE(loop->modify(event.fd(), EPOLLIN));
    loop->remove(event.fd());
    loop->remove(-1);
    REQUIRE(loop->add(event.fd(), EPOLLIN, [](uint32_t) {}));
    loop->remove(event.fd());
    loop->remove(event.fd());
    CHECK_FALSE(loop->modify(event.fd(), EPOLLIN));
}
