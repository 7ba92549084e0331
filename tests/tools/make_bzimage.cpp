// SPDX-License-Identifier: Apache-2.0
// make_bzimage FLAT OUT: wraps a flat binary (linked to run at 16 MiB, 64-bit entry at +0x200)
// in the bzImage format of Documentation/x86/boot.rst, protocol 2.15: a boot sector and setup
// sectors holding a setup header, then the binary as the protected-mode kernel. For the KVM
// tests; written with the document's offsets, independently of wisp's own structures.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

namespace {

constexpr uint32_t kLoadAddress = 0x1000000;  // pref_address: 16 MiB, as Linux's default
constexpr uint32_t kInitSize = 0x100000;      // the guest's linker script keeps it inside 1 MiB
constexpr uint8_t kSetupSects = 4;

template <typename T>
void put(std::vector<uint8_t>& bytes, size_t offset, T value) {
    std::memcpy(bytes.data() + offset, &value, sizeof value);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: make_bzimage FLAT_BINARY OUTPUT\n");
        return 2;
    }
    std::ifstream in(argv[1], std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "make_bzimage: cannot read %s\n", argv[1]);
        return 1;
    }
    std::vector<uint8_t> const kernel{std::istreambuf_iterator<char>(in),
                                      std::istreambuf_iterator<char>()};
    if (kernel.size() <= 0x200 || kernel.size() > kInitSize) {
        std::fprintf(stderr,
                     "make_bzimage: %s has %zu bytes; it needs more than 0x200 (the "
                     "64-bit entry) and at most %#x (init_size)\n",
                     argv[1], kernel.size(), kInitSize);
        return 1;
    }

    std::vector<uint8_t> image((kSetupSects + 1) * 512, 0);
    put<uint8_t>(image, 0x1f1, kSetupSects);                                        // setup_sects
    put<uint32_t>(image, 0x1f4, static_cast<uint32_t>((kernel.size() + 15) / 16));  // syssize
    put<uint16_t>(image, 0x1fe, 0xaa55);                                            // boot_flag
    put<uint8_t>(image, 0x200, 0xeb);              // jump: short, over the header ...
    put<uint8_t>(image, 0x201, 0x26c - 0x202);     // ... which ends at 0x26c
    std::memcpy(image.data() + 0x202, "HdrS", 4);  // header
    put<uint16_t>(image, 0x206, 0x020f);           // version 2.15
    put<uint8_t>(image, 0x211, 0x01);              // loadflags: LOADED_HIGH
    put<uint32_t>(image, 0x214, 0x100000);         // code32_start
    put<uint32_t>(image, 0x22c, 0x7fffffff);       // initrd_addr_max
    put<uint32_t>(image, 0x230, 0x200000);         // kernel_alignment
    put<uint8_t>(image, 0x234, 1);                 // relocatable_kernel
    put<uint8_t>(image, 0x235, 21);                // min_alignment: 2 MiB
    put<uint16_t>(image, 0x236, 0x1);              // xloadflags: XLF_KERNEL_64
    put<uint32_t>(image, 0x238, 2047);             // cmdline_size
    put<uint64_t>(image, 0x258, kLoadAddress);     // pref_address
    put<uint32_t>(image, 0x260, kInitSize);        // init_size
    image.insert(image.end(), kernel.begin(), kernel.end());

    std::ofstream out(argv[2], std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<char const*>(image.data()),
              static_cast<std::streamsize>(image.size()));
    if (!out) {
        std::fprintf(stderr, "make_bzimage: cannot write %s\n", argv[2]);
        return 1;
    }
    return 0;
}
