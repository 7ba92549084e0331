// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "vmm/base/bus.h"

using namespace vmm;

namespace {

// Records every access; reads return (id << 4) + offset + i so the caller sees which device and
// offset answered.
class FakeDevice : public BusDevice {
public:
    explicit FakeDevice(uint8_t id) : m_id(id) {}
    struct Call {
        bool is_write;
        uint64_t offset;
        std::vector<uint8_t> data;
    };
    void read(uint64_t offset, std::span<uint8_t> data) override {
        for (size_t i = 0; i < data.size(); ++i)
            data[i] = static_cast<uint8_t>((m_id << 4) + offset + i);
        calls.push_back({false, offset, std::vector<uint8_t>(data.begin(), data.end())});
    }
    void write(uint64_t offset, std::span<uint8_t const> data) override {
        calls.push_back({true, offset, std::vector<uint8_t>(data.begin(), data.end())});
    }
    std::vector<Call> calls;

private:
    uint8_t m_id;
};

bool inserted(Bus& bus, std::shared_ptr<BusDevice> device, uint64_t base, uint64_t length) {
    auto r = bus.insert(std::move(device), base, length);
    if (!r) {
        CHECK(r.error().kind() == ErrorKind::Host);
        CHECK_FALSE(r.error().message().empty());
    }
    return r.has_value();
}

bool read_byte(Bus const& bus, uint64_t address) {
    std::array<uint8_t, 1> byte{};
    return bus.read(address, byte);
}

}  // namespace

TEST_CASE("Bus refuses an empty range", "[bus]") {
    Bus bus;
    auto dev = std::make_shared<FakeDevice>(1);
    CHECK_FALSE(inserted(bus, dev, 0x1000, 0));
    CHECK_FALSE(inserted(bus, dev, 0, 0));
    CHECK_FALSE(inserted(bus, dev, UINT64_MAX, 0));
    CHECK_FALSE(read_byte(bus, 0x1000));
}

TEST_CASE("Bus refuses a range that wraps past UINT64_MAX", "[bus]") {
    Bus bus;
    auto dev = std::make_shared<FakeDevice>(1);
    CHECK_FALSE(inserted(bus, dev, UINT64_MAX, 2));
    CHECK_FALSE(inserted(bus, dev, UINT64_MAX - 0xf, 0x11));
    CHECK_FALSE(inserted(bus, dev, 2, UINT64_MAX));  // [2, 2^64]
    CHECK_FALSE(inserted(bus, dev, UINT64_MAX, UINT64_MAX));
    CHECK_FALSE(inserted(bus, dev, 0x8000'0000'0000'0000, 0x8000'0000'0000'0001));
    CHECK_FALSE(read_byte(bus, UINT64_MAX));
    CHECK_FALSE(read_byte(bus, 0));
}

TEST_CASE("Bus accepts ranges that end exactly at UINT64_MAX or cover all addresses", "[bus]") {
    SECTION("the last 16 bytes") {
        Bus bus;
        auto dev = std::make_shared<FakeDevice>(1);
        REQUIRE(inserted(bus, dev, UINT64_MAX - 0xf, 0x10));
        std::array<uint8_t, 1> byte{};
        REQUIRE(bus.read(UINT64_MAX, byte));
        REQUIRE(dev->calls.size() == 1);
        CHECK(dev->calls[0].offset == 0xf);
        std::array<uint8_t, 2> two{};
        CHECK_FALSE(bus.read(UINT64_MAX, two));  // would run past the top of the address space
        CHECK(bus.read(UINT64_MAX - 1, two));
        CHECK_FALSE(read_byte(bus, UINT64_MAX - 0x10));
        CHECK_FALSE(inserted(bus, dev, UINT64_MAX, 1));  // overlaps
    }
    SECTION("the last byte alone") {
        Bus bus;
        auto dev = std::make_shared<FakeDevice>(1);
        REQUIRE(inserted(bus, dev, UINT64_MAX, 1));
        CHECK(read_byte(bus, UINT64_MAX));
        CHECK_FALSE(read_byte(bus, UINT64_MAX - 1));
    }
    SECTION("everything but the last byte") {
        Bus bus;
        auto dev = std::make_shared<FakeDevice>(1);
        REQUIRE(inserted(bus, dev, 0, UINT64_MAX));
        CHECK(read_byte(bus, 0));
        CHECK(read_byte(bus, UINT64_MAX - 1));
        CHECK_FALSE(read_byte(bus, UINT64_MAX));
        CHECK(inserted(bus, dev, UINT64_MAX, 1));
        CHECK(read_byte(bus, UINT64_MAX));
    }
}

TEST_CASE("Bus refuses overlaps on either side and allows adjacent ranges", "[bus]") {
    Bus bus;
    auto a = std::make_shared<FakeDevice>(1);
    auto b = std::make_shared<FakeDevice>(2);
    REQUIRE(inserted(bus, a, 0x100, 0x100));  // [0x100, 0x1ff]

    CHECK_FALSE(inserted(bus, b, 0x100, 0x100));  // identical
    CHECK_FALSE(inserted(bus, b, 0x100, 1));      // same base
    CHECK_FALSE(inserted(bus, b, 0x80, 0x81));    // ends on the first byte
    CHECK_FALSE(inserted(bus, b, 0x1ff, 0x10));   // starts on the last byte
    CHECK_FALSE(inserted(bus, b, 0x150, 0x10));   // inside
    CHECK_FALSE(inserted(bus, b, 0x0, 0x1000));   // encloses
    CHECK_FALSE(inserted(bus, b, 0x0, UINT64_MAX));

    CHECK(inserted(bus, b, 0x200, 0x100));  // adjacent above
    CHECK(inserted(bus, b, 0x80, 0x80));    // adjacent below
    // With neighbours on both sides, overlaps with either are still caught.
    CHECK_FALSE(inserted(bus, b, 0x2ff, 1));
    CHECK_FALSE(inserted(bus, b, 0x7f, 2));
    CHECK(inserted(bus, b, 0x300, 1));

    // Failed inserts left the first mapping intact.
    std::array<uint8_t, 1> byte{};
    REQUIRE(bus.read(0x150, byte));
    REQUIRE(a->calls.size() == 1);
    CHECK(a->calls[0].offset == 0x50);
    CHECK(byte[0] == static_cast<uint8_t>(0x10 + 0x50));
}

TEST_CASE("Bus lookups hit the base and the last byte, and miss just outside", "[bus]") {
    Bus bus;
    auto dev = std::make_shared<FakeDevice>(3);
    REQUIRE(inserted(bus, dev, 0x3f8, 8));
    std::array<uint8_t, 1> byte{};

    REQUIRE(bus.read(0x3f8, byte));
    REQUIRE(dev->calls.size() == 1);
    CHECK_FALSE(dev->calls[0].is_write);
    CHECK(dev->calls[0].offset == 0);
    CHECK(byte[0] == 0x30);

    REQUIRE(bus.read(0x3ff, byte));
    REQUIRE(dev->calls.size() == 2);
    CHECK(dev->calls[1].offset == 7);
    CHECK(byte[0] == 0x37);

    byte[0] = 0xee;
    CHECK_FALSE(bus.read(0x400, byte));  // last + 1
    CHECK_FALSE(bus.read(0x3f7, byte));  // before base
    CHECK_FALSE(bus.read(0, byte));
    CHECK_FALSE(bus.read(UINT64_MAX, byte));
    CHECK(byte[0] == 0xee);
    CHECK(dev->calls.size() == 2);

    CHECK_FALSE(bus.write(0x400, byte));
    CHECK_FALSE(bus.write(0x3f7, byte));
    CHECK(dev->calls.size() == 2);
}

TEST_CASE("Bus rejects an access that straddles the end of a range", "[bus]") {
    Bus bus;
    auto dev = std::make_shared<FakeDevice>(1);
    auto next = std::make_shared<FakeDevice>(2);
    REQUIRE(inserted(bus, dev, 0x1000, 0x10));
    REQUIRE(inserted(bus, next, 0x1010, 0x10));

    std::array<uint8_t, 4> word{};
    CHECK(bus.read(0x100c, word));        // exactly the last four bytes
    CHECK_FALSE(bus.read(0x100d, word));  // one byte into the neighbour
    CHECK_FALSE(bus.write(0x100f, word));
    CHECK_FALSE(bus.read(0xffe, word));   // starts before the base
    REQUIRE(dev->calls.size() == 1);
    CHECK(dev->calls[0].offset == 0xc);
    CHECK(next->calls.empty());

    std::array<uint8_t, 0x20> wide{};
    CHECK_FALSE(bus.read(0x1000, wide));  // wider than the range
    std::array<uint8_t, 0> none{};
    CHECK_FALSE(bus.read(0x1000, none));  // zero-length accesses go nowhere
    CHECK_FALSE(bus.write(0x1000, none));
    CHECK(dev->calls.size() == 1);
    CHECK(next->calls.empty());
}

TEST_CASE("Bus passes the offset within the range and the data to the device", "[bus]") {
    Bus bus;
    auto low = std::make_shared<FakeDevice>(1);
    auto high = std::make_shared<FakeDevice>(2);
    REQUIRE(inserted(bus, low, 0xd000'0000, 0x1000));
    REQUIRE(inserted(bus, high, 0xd000'2000, 0x1000));

    std::array<uint8_t, 4> const value{0xde, 0xad, 0xbe, 0xef};
    REQUIRE(bus.write(0xd000'2104, value));
    REQUIRE(high->calls.size() == 1);
    CHECK(high->calls[0].is_write);
    CHECK(high->calls[0].offset == 0x104);
    CHECK(high->calls[0].data == std::vector<uint8_t>{0xde, 0xad, 0xbe, 0xef});
    CHECK(low->calls.empty());

    std::array<uint8_t, 2> out{};
    REQUIRE(bus.read(0xd000'0ffe, out));
    REQUIRE(low->calls.size() == 1);
    CHECK(low->calls[0].offset == 0xffe);
    CHECK(low->calls[0].data.size() == 2);
    CHECK(out[0] == static_cast<uint8_t>(0x10 + 0xfe));
    CHECK(out[1] == static_cast<uint8_t>(0x10 + 0xff));

    // The gap between the two ranges maps nothing.
    CHECK_FALSE(read_byte(bus, 0xd000'1000));
    CHECK_FALSE(read_byte(bus, 0xd000'1fff));
    CHECK(low->calls.size() == 1);
    CHECK(high->calls.size() == 1);
}

TEST_CASE("Bus keeps each device alive while it is mapped", "[bus]") {
    Bus bus;
    std::weak_ptr<FakeDevice> weak;
    {
        auto dev = std::make_shared<FakeDevice>(1);
        weak = dev;
        REQUIRE(inserted(bus, dev, 0x60, 1));
    }
    REQUIRE_FALSE(weak.expired());
    CHECK(read_byte(bus, 0x60));
    CHECK(weak.lock()->calls.size() == 1);
}
