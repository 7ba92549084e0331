// SPDX-License-Identifier: Apache-2.0
// Temporary files for tests.
#include "tests/support/temp_file.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

namespace vmm::test {

TempDir::TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "wisp-test-XXXXXX").string();
    char* made = ::mkdtemp(pattern.data());
    m_path = made ? made : "";
}

TempDir::~TempDir() {
    std::error_code ignored;
    if (!m_path.empty()) std::filesystem::remove_all(m_path, ignored);
}

std::string TempDir::write(std::string const& name, std::span<uint8_t const> bytes) const {
    std::string path = m_path + "/" + name;
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<char const*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    return path;
}

std::string TempDir::write(std::string const& name, std::string const& text) const {
    return write(name, std::span(reinterpret_cast<uint8_t const*>(text.data()), text.size()));
}

std::vector<uint8_t> read_file(std::string const& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<uint8_t> random_bytes(size_t size, uint32_t seed) {
    std::vector<uint8_t> bytes(size);
    std::mt19937 rng(seed);
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    return bytes;
}

}  // namespace vmm::test
