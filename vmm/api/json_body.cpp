// SPDX-License-Identifier: Apache-2.0
// Strict JSON reading.
#include "vmm/api/json_body.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace vmm::api {
namespace {

// nlohmann's DOM builder, keeping the parse error's text instead of throwing it.
class DomBuilder : public nlohmann::detail::json_sax_dom_parser<Json> {
public:
    explicit DomBuilder(Json& result)
        : nlohmann::detail::json_sax_dom_parser<Json>(result, false) {}
    bool parse_error(std::size_t, std::string const&, nlohmann::detail::exception const& ex) {
        m_message = ex.what();
        return false;
    }
    std::string const& message() const { return m_message; }

private:
    std::string m_message;
};

std::string lower(std::string_view text) {
    std::string out(text);
    std::ranges::transform(out, out.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

}  // namespace

Result<Json> parse_json(std::string_view text, std::string_view what) {
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos)
        return fail(ErrorKind::Usage, fmt::format("{}: the body is empty; it must be a JSON object",
                                                  what));
    Json result;
    DomBuilder builder(result);
    bool const ok = Json::sax_parse(text.begin(), text.end(), &builder);
    if (!ok) {
        // "[json.exception.parse_error.101] parse error at line 1, column 5: ..." -> the part
        // after the bracket, which says where and what.
        std::string message = builder.message();
        if (auto bracket = message.find("] "); bracket != std::string::npos)
            message = message.substr(bracket + 2);
        return fail(ErrorKind::Usage, fmt::format("{}: the body is not valid JSON: {}", what,
                                                  message));
    }
    return result;
}

std::string json_type_name(Json const& value) {
    switch (value.type()) {
        case Json::value_t::null: return "null";
        case Json::value_t::object: return "an object";
        case Json::value_t::array: return "an array";
        case Json::value_t::string: return fmt::format("the string {}", value.dump());
        case Json::value_t::boolean: return fmt::format("the boolean {}", value.dump());
        case Json::value_t::number_integer:
        case Json::value_t::number_unsigned:
        case Json::value_t::number_float: return fmt::format("the number {}", value.dump());
        default: return "an unknown value";
    }
}

Result<ObjectReader> ObjectReader::create(Json const& value, std::string where) {
    if (!value.is_object())
        return fail(ErrorKind::Usage, fmt::format("{}: expected a JSON object, got {}", where,
                                                  json_type_name(value)));
    return ObjectReader(value, std::move(where));
}

std::unexpected<Error> ObjectReader::refuse(std::string const& name, std::string_view text) const {
    return fail(ErrorKind::Usage, fmt::format("{}: field '{}' {}", m_where, name, text));
}

bool ObjectReader::has(std::string const& name) const {
    auto it = m_value->find(name);
    return it != m_value->end() && !it->is_null();
}

Json const* ObjectReader::present(std::string const& name) {
    m_known.insert(name);
    auto it = m_value->find(name);
    if (it == m_value->end() || it->is_null()) return nullptr;
    return &*it;
}

Json const* ObjectReader::take(std::string const& name) { return present(name); }

Result<std::optional<std::string>> ObjectReader::string(std::string const& name) {
    Json const* value = present(name);
    if (!value) return std::optional<std::string>{};
    if (!value->is_string())
        return refuse(name, fmt::format("must be a string, got {}", json_type_name(*value)));
    return std::optional<std::string>(value->get<std::string>());
}

Result<std::string> ObjectReader::required_string(std::string const& name) {
    auto value = TRY(string(name));
    if (!value) return refuse(name, "is required (a string)");
    return *value;
}

Result<std::optional<bool>> ObjectReader::boolean(std::string const& name) {
    Json const* value = present(name);
    if (!value) return std::optional<bool>{};
    if (!value->is_boolean())
        return refuse(name, fmt::format("must be true or false, got {}", json_type_name(*value)));
    return std::optional<bool>(value->get<bool>());
}

Result<bool> ObjectReader::required_boolean(std::string const& name) {
    auto value = TRY(boolean(name));
    if (!value) return refuse(name, "is required (true or false)");
    return *value;
}

Result<std::optional<uint64_t>> ObjectReader::integer(std::string const& name, uint64_t min,
                                                      uint64_t max) {
    Json const* value = present(name);
    if (!value) return std::optional<uint64_t>{};
    auto const range = fmt::format("an integer from {} to {}", min, max);
    if (value->is_number_float())
        return refuse(name, fmt::format("must be {}, got {}", range, value->dump()));
    if (value->is_number_integer() && !value->is_number_unsigned())  // negative
        return refuse(name, fmt::format("must be {}, got {}", range, value->dump()));
    if (!value->is_number_unsigned())
        return refuse(name, fmt::format("must be {}, got {}", range, json_type_name(*value)));
    uint64_t const number = value->get<uint64_t>();
    if (number < min || number > max)
        return refuse(name, fmt::format("must be {}, got {}", range, number));
    return std::optional<uint64_t>(number);
}

Result<uint64_t> ObjectReader::required_integer(std::string const& name, uint64_t min,
                                                uint64_t max) {
    auto value = TRY(integer(name, min, max));
    if (!value) return refuse(name, fmt::format("is required (an integer from {} to {})", min, max));
    return *value;
}

Result<std::optional<std::string>> ObjectReader::choice(std::string const& name,
                                                        std::initializer_list<char const*> choices,
                                                        bool ignore_case) {
    auto value = TRY(string(name));
    if (!value) return value;
    for (char const* option : choices) {
        if (*value == option || (ignore_case && lower(*value) == lower(option)))
            return std::optional<std::string>(option);
    }
    std::string list;
    for (char const* option : choices) list += fmt::format("{}\"{}\"", list.empty() ? "" : ", ", option);
    return refuse(name, fmt::format("must be one of {}, got \"{}\"", list, *value));
}

Result<std::optional<Json>> ObjectReader::object(std::string const& name) {
    Json const* value = present(name);
    if (!value) return std::optional<Json>{};
    if (!value->is_object())
        return refuse(name, fmt::format("must be an object, got {}", json_type_name(*value)));
    return std::optional<Json>(*value);
}

Result<std::optional<std::map<std::string, std::string>>> ObjectReader::string_map(
    std::string const& name) {
    auto value = TRY(object(name));
    if (!value) return std::optional<std::map<std::string, std::string>>{};
    std::map<std::string, std::string> out;
    for (auto const& [key, item] : value->items()) {
        if (!item.is_string())
            return refuse(name, fmt::format("must map names to strings; '{}' is {}", key,
                                            json_type_name(item)));
        out.emplace(key, item.get<std::string>());
    }
    return std::optional(std::move(out));
}

Result<void> ObjectReader::finish() const {
    for (auto const& [key, value] : m_value->items()) {
        if (!m_known.contains(key))
            return fail(ErrorKind::Usage,
                        fmt::format("{}: unknown field '{}': remove it or check its "
                                    "spelling against Firecracker's API",
                                    m_where, key));
    }
    return {};
}

}  // namespace vmm::api
