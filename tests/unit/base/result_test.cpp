// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <cerrno>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "vmm/base/result.h"

using namespace vmm;

namespace {

int g_steps = 0;

Result<void> step(bool ok) {
    ++g_steps;
    if (!ok) return fail(ErrorKind::Input, "step failed");
    return {};
}

Result<int> number(bool ok, int value) {
    ++g_steps;
    if (!ok) return fail(ErrorKind::Image, "no number");
    return value;
}

// Runs step(first) then step(second); reaching the end marks `finished`.
Result<void> two_steps(bool first, bool second, bool& finished) {
    TRY(step(first));
    TRY(step(second));
    finished = true;
    return {};
}

Result<int> sum(bool first, bool second) {
    int const a = TRY(number(first, 40));
    int const b = TRY(number(second, 2));
    return a + b;
}

// TRY from a Result<int> inside a Result<void> function, and the other way round.
Result<void> void_from_int(bool ok, int& out) {
    out = TRY(number(ok, 7));
    return {};
}

Result<int> int_from_void(bool ok) {
    TRY(step(ok));
    return 1;
}

Result<std::unique_ptr<int>> make_box(bool ok) {
    if (!ok) return fail(ErrorKind::Host, "no box");
    return std::make_unique<int>(5);
}

Result<int> unbox(bool ok) {
    std::unique_ptr<int> box = TRY(make_box(ok));
    return *box + 1;
}

Result<int> errno_failure() {
    TRY(Result<void>(fail_errno("open /missing", ENOENT)));
    return 0;
}

}  // namespace

TEST_CASE("TRY on Result<void> continues on success and returns the first error", "[result]") {
    bool finished = false;
    g_steps = 0;
    REQUIRE(two_steps(true, true, finished).has_value());
    CHECK(finished);
    CHECK(g_steps == 2);

    finished = false;
    g_steps = 0;
    auto r = two_steps(false, true, finished);
    REQUIRE_FALSE(r.has_value());
    CHECK_FALSE(finished);
    CHECK(g_steps == 1);  // stopped at the first failure, evaluated once
    CHECK(r.error().kind() == ErrorKind::Input);
    CHECK(r.error().message() == "step failed");

    g_steps = 0;
    r = two_steps(true, false, finished);
    REQUIRE_FALSE(r.has_value());
    CHECK_FALSE(finished);
    CHECK(g_steps == 2);
}

TEST_CASE("TRY on Result<int> yields the value or returns the error", "[result]") {
    g_steps = 0;
    auto ok = sum(true, true);
    REQUIRE(ok.has_value());
    CHECK(*ok == 42);
    CHECK(g_steps == 2);

    g_steps = 0;
    auto bad = sum(true, false);
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().kind() == ErrorKind::Image);
    CHECK(bad.error().context() == "no number");
    CHECK(g_steps == 2);

    g_steps = 0;
    CHECK_FALSE(sum(false, true).has_value());
    CHECK(g_steps == 1);
}

TEST_CASE("TRY crosses between Result<void> and Result<int>", "[result]") {
    int out = 0;
    REQUIRE(void_from_int(true, out).has_value());
    CHECK(out == 7);
    out = 0;
    auto r = void_from_int(false, out);
    REQUIRE_FALSE(r.has_value());
    CHECK(out == 0);
    CHECK(r.error().kind() == ErrorKind::Image);

    auto i = int_from_void(true);
    REQUIRE(i.has_value());
    CHECK(*i == 1);
    auto j = int_from_void(false);
    REQUIRE_FALSE(j.has_value());
    CHECK(j.error().kind() == ErrorKind::Input);
}

TEST_CASE("TRY moves move-only values out", "[result]") {
    auto ok = unbox(true);
    REQUIRE(ok.has_value());
    CHECK(*ok == 6);
    auto bad = unbox(false);
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().message() == "no box");
}

TEST_CASE("Error::message is the context alone without an errno", "[result]") {
    Error e = Error::make(ErrorKind::Usage, "--memory must be a multiple of 4 KiB");
    CHECK(e.message() == "--memory must be a multiple of 4 KiB");
    CHECK(e.context() == e.message());
    CHECK_FALSE(e.code());
    CHECK(e.kind() == ErrorKind::Usage);
    CHECK(fmt::format("{}", e) == e.message());

    Error inv = Error::invalid_argument("bad value");
    CHECK(inv.kind() == ErrorKind::Usage);
    CHECK(inv.message() == "bad value");

    Error zero = Error::from_errno("nothing", 0);
    CHECK(zero.message() == "nothing");
}

TEST_CASE("Error::message appends the errno text and keeps the kind", "[result]") {
    Error e = Error::from_errno("open /missing", ENOENT, ErrorKind::Input);
    CHECK(e.kind() == ErrorKind::Input);
    CHECK(e.code() == std::errc::no_such_file_or_directory);
    CHECK(e.context() == "open /missing");
    CHECK(e.message() == "open /missing: No such file or directory");
    CHECK(fmt::format("[{}]", e) == "[open /missing: No such file or directory]");

    Error host = Error::from_errno("KVM_CREATE_VCPU", EPERM);
    CHECK(host.kind() == ErrorKind::Host);
    CHECK(host.message() == "KVM_CREATE_VCPU: Operation not permitted");
}

TEST_CASE("fail and fail_errno keep the kind through TRY", "[result]") {
    for (ErrorKind kind : {ErrorKind::Host, ErrorKind::Usage, ErrorKind::Input, ErrorKind::Image,
                           ErrorKind::Unavailable}) {
        auto inner = [kind]() -> Result<int> { return fail(kind, "x"); };
        auto outer = [&]() -> Result<void> {
            TRY(inner());
            return {};
        };
        auto r = outer();
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind() == kind);
        CHECK(r.error().message() == "x");
    }
    auto r = errno_failure();
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind() == ErrorKind::Host);
    CHECK(r.error().code().value() == ENOENT);
    CHECK(r.error().message() == "open /missing: No such file or directory");
}
