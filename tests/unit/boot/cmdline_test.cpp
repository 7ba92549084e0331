// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <string>

#include "boot/cmdline.h"

using namespace vmm;
using namespace vmm::boot;

namespace {

Cmdline parsed(std::string_view text, size_t capacity = Cmdline::kDefaultCapacity) {
    auto r = Cmdline::parse(text, capacity);
    INFO((r ? std::string() : r.error().message()));
    REQUIRE(r.has_value());
    return std::move(*r);
}

void require_refused(std::string_view text, size_t capacity = Cmdline::kDefaultCapacity) {
    auto r = Cmdline::parse(text, capacity);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind() == ErrorKind::Usage);
}

}  // namespace

TEST_CASE("Cmdline keeps the user's text and the default capacity", "[boot][cmdline]") {
    Cmdline const c = parsed("console=ttyS0 reboot=k panic=1");
    CHECK(c.str() == "console=ttyS0 reboot=k panic=1");
    CHECK(c.capacity() == 2048);
    CHECK(parsed("").str().empty());
    CHECK(parsed("a  b ~").str() == "a  b ~");
}

TEST_CASE("Cmdline accepts 2047 bytes and refuses 2048", "[boot][cmdline]") {
    CHECK(parsed(std::string(2047, 'x')).str().size() == 2047);
    require_refused(std::string(2048, 'x'));
    require_refused(std::string(100000, 'x'));
    auto r = Cmdline::parse(std::string(2048, 'x'));
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().message(), Catch::Contains("2047"));
    // A custom capacity.
    CHECK(parsed("abc", 4).str() == "abc");
    require_refused("abcd", 4);
    require_refused("", 0);
}

TEST_CASE("Cmdline refuses non-printable characters", "[boot][cmdline]") {
    require_refused(std::string_view("root=/dev/vda\0init=/bin/sh", 26));
    require_refused("console=ttyS0\n");
    require_refused("a\tb");
    require_refused("a\rb");
    require_refused("\x1b[0m");
    require_refused("a\x7f");
    require_refused("caf\xc3\xa9");
    require_refused("\xff");
}

TEST_CASE("Cmdline::append separates parameters with one space", "[boot][cmdline]") {
    Cmdline empty = parsed("");
    REQUIRE(empty.append("console=ttyS0").has_value());
    CHECK(empty.str() == "console=ttyS0");  // no leading space
    REQUIRE(empty.append("panic=1").has_value());
    CHECK(empty.str() == "console=ttyS0 panic=1");

    Cmdline c = parsed("quiet");
    REQUIRE(c.append("virtio_mmio.device=4K@0xd0001000:5").has_value());
    CHECK(c.str() == "quiet virtio_mmio.device=4K@0xd0001000:5");
}

TEST_CASE("Cmdline::append refuses empty or non-printable parameters", "[boot][cmdline]") {
    Cmdline c = parsed("quiet");
    auto r = c.append("");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind() == ErrorKind::Usage);
    CHECK_FALSE(c.append("a\nb").has_value());
    CHECK_FALSE(c.append(std::string_view("x\0", 2)).has_value());
    CHECK(c.str() == "quiet");  // unchanged by the failures
}

TEST_CASE("Cmdline::append refuses to overflow the capacity", "[boot][cmdline]") {
    SECTION("to an empty line: exactly capacity - 1 fits") {
        Cmdline c = parsed("", 8);
        CHECK_FALSE(c.append("12345678").has_value());
        CHECK(c.str().empty());
        REQUIRE(c.append("1234567").has_value());
        CHECK(c.str() == "1234567");
        CHECK_FALSE(c.append("x").has_value());
        CHECK(c.str() == "1234567");
    }
    SECTION("the separating space counts") {
        Cmdline c = parsed("abc", 8);
        CHECK_FALSE(c.append("abcd").has_value());  // "abc abcd" + NUL = 9
        CHECK(c.str() == "abc");
        REQUIRE(c.append("abc").has_value());       // "abc abc" + NUL = 8
        CHECK(c.str() == "abc abc");
    }
    SECTION("at the default limit") {
        Cmdline c = parsed(std::string(2040, 'y'));
        REQUIRE(c.append("123456").has_value());  // 2040 + 1 + 6 = 2047
        CHECK(c.str().size() == 2047);
        auto r = c.append("z");
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind() == ErrorKind::Usage);
        CHECK(c.str().size() == 2047);
    }
    SECTION("a huge parameter") {
        Cmdline c = parsed("quiet");
        CHECK_FALSE(c.append(std::string(1 << 20, 'p')).has_value());
        CHECK(c.str() == "quiet");
    }
}
