// SPDX-License-Identifier: Apache-2.0
// Strict reading of JSON request bodies and config-file sections (nlohmann-json), with refusals
// a person can act on: which field, what was expected, what was given. Unknown fields are
// refused, as Firecracker's deny_unknown_fields does.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "vmm/base/result.h"

namespace vmm::api {

using Json = nlohmann::json;

/// Parses `text` as JSON without exceptions; a syntax error says where it is.
Result<Json> parse_json(std::string_view text, std::string_view what);

/// "a string", "a number", ... for messages.
std::string json_type_name(Json const& value);

/// Reads the fields of one JSON object. Each getter marks its field as known; finish() refuses
/// any field no getter asked for. `where` names the object in messages ("PUT /boot-source",
/// "config file: drives[0]").
class ObjectReader {
public:
    static Result<ObjectReader> create(Json const& value, std::string where);

    bool has(std::string const& name) const;
    Result<std::optional<std::string>> string(std::string const& name);
    Result<std::string> required_string(std::string const& name);
    Result<std::optional<bool>> boolean(std::string const& name);
    Result<bool> required_boolean(std::string const& name);
    /// An integer in [min, max]; negative, fractional and too-large values are refused.
    Result<std::optional<uint64_t>> integer(std::string const& name, uint64_t min, uint64_t max);
    Result<uint64_t> required_integer(std::string const& name, uint64_t min, uint64_t max);
    /// One of `choices` (exact spelling unless `ignore_case`).
    Result<std::optional<std::string>> choice(std::string const& name,
                                              std::initializer_list<char const*> choices,
                                              bool ignore_case = false);
    /// A nested object (absent or null: nullopt).
    Result<std::optional<Json>> object(std::string const& name);
    /// An object whose values are all strings.
    Result<std::optional<std::map<std::string, std::string>>> string_map(std::string const& name);
    /// Marks a field as known without reading it; returns it (absent or null: nullptr).
    Json const* take(std::string const& name);
    /// Refuses the fields no getter asked for.
    Result<void> finish() const;

    std::string const& where() const { return m_where; }
    /// "PUT /boot-source: field 'boot_args' " and `text`.
    std::unexpected<Error> refuse(std::string const& name, std::string_view text) const;

private:
    ObjectReader(Json const& value, std::string where) : m_value(&value), m_where(std::move(where)) {}
    Json const* present(std::string const& name);
    Json const* m_value;
    std::string m_where;
    std::set<std::string> m_known;
};

}  // namespace vmm::api
