// SPDX-License-Identifier: Apache-2.0
// Result<T>: the return type of every fallible host-side operation, plus the TRY macro.
#pragma once

#include <expected>
#include <string>
#include <system_error>
#include <utility>

#include <fmt/format.h>

namespace vmm {

/// What kind of failure an Error is; main() maps each kind to one documented exit status.
enum class ErrorKind : uint8_t {
    Host,          // a syscall or ioctl failed
    Usage,         // the user asked for something impossible (bad option value)
    Input,         // a file the user named is missing or unreadable
    Image,         // a kernel or initrd that is not what we can load
    Unavailable,   // /dev/kvm missing, not permitted, or lacking a capability
};

/// A recoverable host-side failure: what we were doing, plus why.
class Error {
public:
    static Error from_errno(std::string context, int code, ErrorKind kind = ErrorKind::Host);
    static Error invalid_argument(std::string context) {
        return Error(ErrorKind::Usage, {}, std::move(context));
    }
    static Error make(ErrorKind kind, std::string context) {
        return Error(kind, {}, std::move(context));
    }

    ErrorKind kind() const { return m_kind; }
    std::error_code code() const { return m_code; }
    std::string const& context() const { return m_context; }
    /// "KVM_CREATE_VCPU: Operation not permitted", or the context alone when there is no errno.
    std::string message() const;

private:
    Error(ErrorKind kind, std::error_code code, std::string context)
        : m_kind(kind), m_code(code), m_context(std::move(context)) {}
    ErrorKind m_kind;
    std::error_code m_code;
    std::string m_context;
};

// std::expected in libstdc++ 12 is not [[nodiscard]]; this thin subclass is, so an ignored
// Result is a -Werror failure.
template <typename T = void, typename E = Error>
class [[nodiscard]] Result : public std::expected<T, E> {
public:
    using std::expected<T, E>::expected;
    Result(std::expected<T, E>&& other) : std::expected<T, E>(std::move(other)) {}
};

inline std::unexpected<Error> fail(ErrorKind kind, std::string context) {
    return std::unexpected(Error::make(kind, std::move(context)));
}
inline std::unexpected<Error> fail_errno(std::string context, int code) {
    return std::unexpected(Error::from_errno(std::move(context), code));
}

}  // namespace vmm

template <>
struct fmt::formatter<vmm::Error> : fmt::formatter<std::string> {
    auto format(vmm::Error const& e, format_context& ctx) const {
        return fmt::formatter<std::string>::format(e.message(), ctx);
    }
};

// Returns the error from the enclosing function, else yields the value (works for Result<void>).
#define TRY(expression)                                                 \
    __extension__({                                                     \
        auto&& try_result_ = (expression);                              \
        if (!try_result_) [[unlikely]]                                  \
            return std::unexpected(std::move(try_result_).error());     \
        *std::move(try_result_);                                        \
    })
