// SPDX-License-Identifier: Apache-2.0
// TempFile / TempDir: scratch files removed when the test ends.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace vmm::test {

class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(TempDir const&) = delete;
    TempDir& operator=(TempDir const&) = delete;
    std::string const& path() const { return m_path; }
    /// Writes a file in this directory and returns its path.
    std::string write(std::string const& name, std::span<uint8_t const> bytes) const;
    std::string write(std::string const& name, std::string const& text) const;

private:
    std::string m_path;
};

std::vector<uint8_t> read_file(std::string const& path);

/// `size` pseudo-random bytes, the same for the same seed.
std::vector<uint8_t> random_bytes(size_t size, uint32_t seed);

#ifdef WISP_GUEST_DIR
/// Path of a freestanding test guest built by tests/CMakeLists.txt.
inline std::string guest_path(char const* name) {
    return std::string(WISP_GUEST_DIR) + "/" + name + ".elf";
}
#endif

}  // namespace vmm::test
