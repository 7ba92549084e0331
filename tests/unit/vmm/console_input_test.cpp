// SPDX-License-Identifier: Apache-2.0
// The console escape filter, and ConsoleInput on a real event loop with a pipe (or a regular
// file) as its input: delivery, back-pressure, EOF and the quit escape.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <string>
#include <vector>

#include "tests/support/temp_file.h"
#include "vmm/base/event_fd.h"
#include "vmm/base/unique_fd.h"
#include "vmm/console_input.h"
#include "vmm/event_loop.h"

namespace {

using namespace vmm;

std::vector<uint8_t> bytes(std::string const& text) { return {text.begin(), text.end()}; }

std::string text(std::deque<uint8_t> const& data) { return {data.begin(), data.end()}; }

struct Filtered {
    std::string out;
    bool quit = false;
};

Filtered run_filter(std::string const& input) {
    EscapeFilter filter;
    std::deque<uint8_t> out;
    auto const data = bytes(input);
    bool const quit = filter.filter(data, out);
    return {text(out), quit};
}

struct Pipe {
    UniqueFd read_end;
    UniqueFd write_end;
    Pipe() {
        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0);
        read_end = UniqueFd(fds[0]);
        write_end = UniqueFd(fds[1]);
    }
    void write(std::string const& data) const {
        REQUIRE(::write(write_end.get(), data.data(), data.size()) ==
                static_cast<ssize_t>(data.size()));
    }
};

std::unique_ptr<EventLoop> make_loop() {
    auto loop = EventLoop::create();
    REQUIRE(loop);
    return std::move(*loop);
}

/// An extra eventfd on the loop whose handler stops the loop; everything already ready when it
/// fires is dispatched in the same round, so a run() with the probe signalled processes
/// exactly the fds that are ready now.
struct Probe {
    EventFd event;
    int fired = 0;
    explicit Probe(EventLoop& loop, EventLoop::WhilePaused paused = EventLoop::WhilePaused::Defer)
        : event(create()) {
        REQUIRE(loop.add(
            event.fd(), EPOLLIN,
            [this, &loop](uint32_t) {
                event.consume();
                ++fired;
                loop.stop();
            },
            paused));
    }
    static EventFd create() {
        auto e = EventFd::create();
        REQUIRE(e);
        return std::move(*e);
    }
};

void run(EventLoop& loop) { REQUIRE(loop.run()); }

}  // namespace

TEST_CASE("The escape filter passes plain bytes through", "[console]") {
    auto const r = run_filter("hello\r\n\x02\x7f");
    CHECK(r.out == "hello\r\n\x02\x7f");
    CHECK_FALSE(r.quit);
    auto const empty = run_filter("");
    CHECK(empty.out.empty());
    CHECK_FALSE(empty.quit);
}

TEST_CASE("Ctrl-A x and Ctrl-A X ask to quit", "[console]") {
    CHECK(run_filter("\x01x").quit);
    CHECK(run_filter("\x01X").quit);
    auto const r = run_filter("ab\x01xcd");
    CHECK(r.quit);
    CHECK(r.out == "ab");  // nothing after the escape is taken
    CHECK_FALSE(run_filter("x").quit);
    CHECK_FALSE(run_filter("\x01y").quit);
}

TEST_CASE("Ctrl-A Ctrl-A sends a single Ctrl-A", "[console]") {
    auto const r = run_filter("a\x01\x01z");
    CHECK(r.out == "a\x01z");
    CHECK_FALSE(r.quit);
    // The second Ctrl-A is data, so it does not start a new escape.
    auto const then_x = run_filter("\x01\x01x");
    CHECK(then_x.out == "\x01x");
    CHECK_FALSE(then_x.quit);
}

TEST_CASE("Ctrl-A followed by another byte passes both", "[console]") {
    auto const r = run_filter("\x01q\x01\r");
    CHECK(r.out == "\x01q\x01\r");
    CHECK_FALSE(r.quit);
}

TEST_CASE("An escape split across two reads still works", "[console]") {
    EscapeFilter filter;
    std::deque<uint8_t> out;
    CHECK_FALSE(filter.filter(bytes("ab\x01"), out));
    CHECK(text(out) == "ab");  // the Ctrl-A is held back
    CHECK(filter.filter(bytes("x"), out));

    EscapeFilter double_escape;
    std::deque<uint8_t> out2;
    CHECK_FALSE(double_escape.filter(bytes("\x01"), out2));
    CHECK_FALSE(double_escape.filter(bytes("\x01"), out2));
    CHECK(text(out2) == "\x01");
    CHECK_FALSE(double_escape.filter(bytes("x"), out2));  // the escape was consumed
    CHECK(text(out2) == "\x01x");

    EscapeFilter other;
    std::deque<uint8_t> out3;
    CHECK_FALSE(other.filter(bytes("\x01"), out3));
    CHECK_FALSE(other.filter(bytes("k"), out3));
    CHECK(text(out3) == "\x01k");
}

TEST_CASE("Bytes written to the input pipe reach the sink when the loop runs", "[console]") {
    auto loop = make_loop();
    Pipe pipe;
    std::string received;
    auto input = ConsoleInput::create(
        *loop, pipe.read_end.get(),
        [&](std::span<uint8_t const> data) {
            received.append(data.begin(), data.end());
            if (received.size() >= 5) loop->stop();
            return data.size();
        },
        [] { FAIL("on_quit must not be called"); });
    REQUIRE(input);
    CHECK(received.empty());  // nothing is read before the loop runs
    pipe.write("hello");
    run(*loop);
    CHECK(received == "hello");
}

TEST_CASE("A sink taking a few bytes at a time receives everything in order", "[console]") {
    auto loop = make_loop();
    Pipe pipe;
    std::string received;
    int calls = 0;
    auto input = ConsoleInput::create(
        *loop, pipe.read_end.get(),
        [&](std::span<uint8_t const> data) {
            ++calls;
            size_t const taken = std::min<size_t>(2, data.size());
            received.append(data.begin(), data.begin() + static_cast<ptrdiff_t>(taken));
            if (received.size() >= 7) loop->stop();
            return taken;
        },
        nullptr);
    REQUIRE(input);
    pipe.write("abcdefg");
    run(*loop);
    CHECK(received == "abcdefg");
    CHECK(calls >= 4);
}

TEST_CASE("A full sink pauses input until space_available is called", "[console]") {
    auto loop = make_loop();
    Pipe pipe;
    Probe probe(*loop);
    bool accept = false;
    int calls = 0;
    std::string received;
    auto input = ConsoleInput::create(
        *loop, pipe.read_end.get(),
        [&](std::span<uint8_t const> data) -> size_t {
            ++calls;
            if (!accept) return 0;
            received.append(data.begin(), data.end());
            if (received.size() >= 6) loop->stop();
            return data.size();
        },
        nullptr);
    REQUIRE(input);

    // The sink refuses "abc": the bytes stay pending.
    pipe.write("abc");
    probe.event.signal();
    run(*loop);
    CHECK(calls == 1);
    CHECK(received.empty());

    // While paused, new input is not even read: the sink is not called again.
    pipe.write("def");
    probe.event.signal();
    run(*loop);
    CHECK(probe.fired == 2);
    CHECK(calls == 1);

    // Space again: the pending bytes go first, then reading resumes.
    accept = true;
    (*input)->space_available();
    run(*loop);
    CHECK(received == "abcdef");
}

TEST_CASE("space_available with nothing pending calls no sink", "[console]") {
    auto loop = make_loop();
    Pipe pipe;
    Probe probe(*loop);
    int calls = 0;
    auto input = ConsoleInput::create(
        *loop, pipe.read_end.get(),
        [&](std::span<uint8_t const> data) {
            ++calls;
            return data.size();
        },
        nullptr);
    REQUIRE(input);
    (*input)->space_available();
    (*input)->space_available();
    probe.event.signal();
    run(*loop);
    CHECK(calls == 0);
}

TEST_CASE("End of input does not end the VM", "[console]") {
    auto loop = make_loop();
    Pipe pipe;
    Probe probe(*loop);
    int quits = 0;
    std::string received;
    auto input = ConsoleInput::create(
        *loop, pipe.read_end.get(),
        [&](std::span<uint8_t const> data) {
            received.append(data.begin(), data.end());
            return data.size();
        },
        [&] { ++quits; });
    REQUIRE(input);
    pipe.write("bye");
    pipe.write_end.reset();
    probe.event.signal();
    run(*loop);  // reads "bye"
    probe.event.signal();
    run(*loop);  // reads EOF
    probe.event.signal();
    run(*loop);  // the pipe no longer keeps the loop busy
    CHECK(received == "bye");
    CHECK(quits == 0);
    CHECK(probe.fired == 3);
    // EOF unregistered the pipe, so it can be registered again.
    CHECK(loop->add(pipe.read_end.get(), EPOLLIN, [](uint32_t) {}));
    loop->remove(pipe.read_end.get());
}

TEST_CASE("Ctrl-A x on the input calls on_quit", "[console]") {
    auto loop = make_loop();
    Pipe pipe;
    int quits = 0;
    auto input = ConsoleInput::create(
        *loop, pipe.read_end.get(), [](std::span<uint8_t const> data) { return data.size(); },
        [&] {
            ++quits;
            loop->stop();
        });
    REQUIRE(input);
    pipe.write("ls\r\x01x");
    run(*loop);
    CHECK(quits == 1);
}

TEST_CASE("Ctrl-A Ctrl-A on the input sends one Ctrl-A and does not quit", "[console]") {
    auto loop = make_loop();
    Pipe pipe;
    int quits = 0;
    std::string received;
    auto input = ConsoleInput::create(
        *loop, pipe.read_end.get(),
        [&](std::span<uint8_t const> data) {
            received.append(data.begin(), data.end());
            if (received.size() >= 3) loop->stop();
            return data.size();
        },
        [&] { ++quits; });
    REQUIRE(input);
    pipe.write("\x01\x01xy");
    run(*loop);
    CHECK(received == "\x01xy");
    CHECK(quits == 0);
}

TEST_CASE("Input from a regular file is delivered without polling", "[console]") {
    test::TempDir dir;
    auto const path = dir.write("input", std::string("from file"));
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd);
    auto loop = make_loop();
    std::string received;
    auto input = ConsoleInput::create(
        *loop, fd.get(),
        [&](std::span<uint8_t const> data) {
            received.append(data.begin(), data.end());
            return data.size();
        },
        nullptr);
    REQUIRE(input);
    CHECK(received == "from file");
}

TEST_CASE("Input from a regular file waits for space like a pipe", "[console]") {
    test::TempDir dir;
    auto const path = dir.write("input", std::string("abcdef"));
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd);
    auto loop = make_loop();
    std::string received;
    size_t budget = 2;
    auto input = ConsoleInput::create(
        *loop, fd.get(),
        [&](std::span<uint8_t const> data) {
            size_t const taken = std::min(budget, data.size());
            budget -= taken;
            received.append(data.begin(), data.begin() + static_cast<ptrdiff_t>(taken));
            if (received.size() >= 6) loop->stop();
            return taken;
        },
        nullptr);
    REQUIRE(input);
    CHECK(received == "ab");
    budget = 100;
    (*input)->space_available();
    run(*loop);
    CHECK(received == "abcdef");
}

TEST_CASE("Ctrl-A x in a regular file calls on_quit", "[console]") {
    test::TempDir dir;
    auto const path = dir.write("input", std::string("ok\x01x"));
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd);
    auto loop = make_loop();
    int quits = 0;
    auto input = ConsoleInput::create(
        *loop, fd.get(), [](std::span<uint8_t const> data) { return data.size(); },
        [&] { ++quits; });
    REQUIRE(input);
    CHECK(quits == 1);
}

TEST_CASE("Destroying ConsoleInput unregisters its fds from the loop", "[console]") {
    auto loop = make_loop();
    Pipe pipe;
    Probe probe(*loop);
    int calls = 0;
    {
        auto input = ConsoleInput::create(
            *loop, pipe.read_end.get(),
            [&](std::span<uint8_t const> data) {
                ++calls;
                return data.size();
            },
            nullptr);
        REQUIRE(input);
    }
    pipe.write("late");
    probe.event.signal();
    run(*loop);  // would call into the destroyed object if the pipe were still registered
    CHECK(calls == 0);
    // The fd is free to be registered again.
    CHECK(loop->add(pipe.read_end.get(), EPOLLIN, [](uint32_t) {}));
    loop->remove(pipe.read_end.get());
}

TEST_CASE("While the loop is paused, Ctrl-A x still ends the VM and nothing reaches the sink",
          "[console]") {
    auto loop = make_loop();
    Pipe pipe;
    Probe probe(*loop, EventLoop::WhilePaused::Serve);
    int quits = 0;
    int calls = 0;
    auto input = ConsoleInput::create(
        *loop, pipe.read_end.get(),
        [&](std::span<uint8_t const> data) {
            ++calls;
            return data.size();
        },
        [&] {
            ++quits;
            loop->stop();
        });
    REQUIRE(input);
    REQUIRE(loop->set_paused(true));
    pipe.write("ls\r\x01x");
    probe.event.signal();
    run(*loop);
    CHECK(quits == 1);
    CHECK(calls == 0);
}

TEST_CASE("Input typed while the loop is paused reaches the sink after the resume, in order",
          "[console]") {
    auto loop = make_loop();
    Pipe pipe;
    Probe probe(*loop, EventLoop::WhilePaused::Serve);
    std::string received;
    auto input = ConsoleInput::create(
        *loop, pipe.read_end.get(),
        [&](std::span<uint8_t const> data) {
            received.append(data.begin(), data.end());
            if (received.size() >= 6) loop->stop();
            return data.size();
        },
        nullptr);
    REQUIRE(input);
    REQUIRE(loop->set_paused(true));
    pipe.write("abc");
    probe.event.signal();
    run(*loop);  // stdin is read (for the escape), the bytes are held
    CHECK(probe.fired == 1);
    CHECK(received.empty());

    REQUIRE(loop->set_paused(false));
    pipe.write("def");
    run(*loop);
    CHECK(received == "abcdef");
}

TEST_CASE("A paused loop holds at most a few KiB of input and reads the rest after the resume",
          "[console]") {
    auto loop = make_loop();
    Pipe pipe;
    Probe probe(*loop, EventLoop::WhilePaused::Serve);
    std::string received;
    std::string const typed(10000, 'k');
    auto input = ConsoleInput::create(
        *loop, pipe.read_end.get(),
        [&](std::span<uint8_t const> data) {
            received.append(data.begin(), data.end());
            if (received.size() >= typed.size()) loop->stop();
            return data.size();
        },
        nullptr);
    REQUIRE(input);
    REQUIRE(loop->set_paused(true));
    pipe.write(typed);
    // Each round reads at most 256 bytes; enough rounds to hit the limit, then the probe.
    for (int i = 0; i < 64; ++i) {
        probe.event.signal();
        run(*loop);
    }
    // Unread input stays in the pipe: the limit was reached before all of it was read.
    int queued = 0;
    REQUIRE(::ioctl(pipe.read_end.get(), FIONREAD, &queued) == 0);
    CHECK(queued > 0);
    CHECK(queued <= static_cast<int>(typed.size()) - 4096);
    CHECK(received.empty());

    REQUIRE(loop->set_paused(false));
    run(*loop);
    CHECK(received == typed);
}
