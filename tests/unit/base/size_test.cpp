// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include "vmm/base/size.h"

using namespace vmm;

namespace {

uint64_t parsed(std::string_view text) {
    auto r = parse_size(text);
    INFO("parse_size(\"" << std::string(text) << "\")"
                         << (r ? std::string() : ": " + r.error().message()));
    REQUIRE(r.has_value());
    return *r;
}

void require_refused(std::string_view text) {
    auto r = parse_size(text);
    INFO("parse_size(\"" << std::string(text) << "\") = " << (r ? std::to_string(*r) : "error"));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind() == ErrorKind::Usage);
    CHECK_FALSE(r.error().message().empty());
}

}  // namespace

TEST_CASE("Size literals are binary units", "[size]") {
    STATIC_REQUIRE(1_KiB == 1024);
    STATIC_REQUIRE(3_MiB == 3 * 1024 * 1024);
    STATIC_REQUIRE(2_GiB == 2ull * 1024 * 1024 * 1024);
}

TEST_CASE("parse_size reads whole numbers with binary units", "[size]") {
    CHECK(parsed("128M") == 128_MiB);
    CHECK(parsed("2G") == 2_GiB);
    CHECK(parsed("1T") == 1024_GiB);
    CHECK(parsed("4096K") == 4_MiB);
    CHECK(parsed("512B") == 512);
    CHECK(parsed("0B") == 0);
    CHECK(parsed("128MiB") == 128_MiB);
    CHECK(parsed("2GiB") == 2_GiB);
    CHECK(parsed("4KiB") == 4_KiB);
    CHECK(parsed("1TiB") == 1024_GiB);
    CHECK(parsed("64MB") == 64_MiB);
    CHECK(parsed("64m") == 64_MiB);
    CHECK(parsed("1g") == 1_GiB);
}

TEST_CASE("parse_size treats a bare number as MiB", "[size]") {
    CHECK(parsed("12") == 12_MiB);
    CHECK(parsed("1") == 1_MiB);
    CHECK(parsed("0012") == 12_MiB);
}

TEST_CASE("parse_size rejects malformed text", "[size]") {
    for (char const* text : {"", "M", "G", "iB", "12X", "12Q", "1.5G", "1,5G", "-1", "-1M", "+1",
                             "12 M", " 12", "12 ", "0x10", "0x10M", "12MM", "12Mi", "12MiBB",
                             "12BiB", "12BB", "12KX", "M12", "12\n", "1e3"})
        require_refused(text);
    // An embedded NUL must not end the text early.
    require_refused(std::string_view("12\0M", 4));
    require_refused(std::string_view("12M\0", 4));
}

TEST_CASE("parse_size accepts the largest sizes that fit in 64 bits", "[size]") {
    CHECK(parsed("18446744073709551615B") == UINT64_MAX);
    CHECK(parsed("16777215T") == (UINT64_MAX >> 40) << 40);
    CHECK(parsed("17179869183G") == (UINT64_MAX >> 30) << 30);
    CHECK(parsed("17592186044415M") == (UINT64_MAX >> 20) << 20);
    CHECK(parsed("17592186044415") == (UINT64_MAX >> 20) << 20);
}

TEST_CASE("parse_size rejects sizes that overflow 64 bits", "[size]") {
    for (char const* text : {"17179869184G", "16777216T", "17592186044416M", "17592186044416",
                             "18014398509481984K", "18446744073709551616B", "99999999999999999999",
                             "99999999999999999999B", "18446744073709551615K",
                             "18446744073709551615T"})
        require_refused(text);
    auto r = parse_size("17179869184G");
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().message(), Catch::Contains("too large"));
}
