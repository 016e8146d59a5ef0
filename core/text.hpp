// Input quoted back in an error message: at most ~80 characters of it, with
// control bytes and bytes that are not valid UTF-8 escaped (\x00, \xff), so
// that a message never echoes a 10 MB field or raw binary into a terminal.
#pragma once

#include <string>
#include <string_view>

namespace eos {

// 'abc', or 'the first 80 characters…' (+N bytes) when longer; escapes as above.
std::string quote_input(std::string_view input, std::size_t max_chars = 80);
// Whether the bytes are well-formed UTF-8 (no overlongs, no surrogates).
bool valid_utf8(std::string_view s);

}  // namespace eos
