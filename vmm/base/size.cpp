// SPDX-License-Identifier: Apache-2.0
// Size parsing.
#include "vmm/base/size.h"

#include <cctype>
#include <charconv>

namespace vmm {

Result<uint64_t> parse_size(std::string_view text) {
    auto bad = [&] {
        return fail(ErrorKind::Usage,
                    fmt::format("invalid size '{}': use a whole number with an optional unit "
                                "K, M, G or T (e.g. 128M, 2G); a bare number means MiB",
                                text));
    };
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc::result_out_of_range)
        return fail(ErrorKind::Usage, fmt::format("size '{}' is too large", text));
    if (ec != std::errc() || end == text.data()) return bad();
    std::string_view unit(end, static_cast<size_t>(text.data() + text.size() - end));
    unsigned shift = 20;
    if (!unit.empty()) {
        switch (std::toupper(static_cast<unsigned char>(unit[0]))) {
            case 'B': shift = 0; break;
            case 'K': shift = 10; break;
            case 'M': shift = 20; break;
            case 'G': shift = 30; break;
            case 'T': shift = 40; break;
            default: return bad();
        }
        std::string_view rest = unit.substr(1);
        if (shift != 0 && !(rest.empty() || rest == "iB" || rest == "ib" || rest == "B" || rest == "b"))
            return bad();
        if (shift == 0 && !rest.empty()) return bad();
    }
    if (shift != 0 && value > (UINT64_MAX >> shift))
        return fail(ErrorKind::Usage, fmt::format("size '{}' is too large", text));
    return value << shift;
}

}  // namespace vmm
