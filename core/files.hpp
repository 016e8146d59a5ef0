// Files a killed run must find complete or absent: every output that a
// resumed or replayed run reads back (θ files, manifests, checkpoints,
// summaries, command.json) is written through this one helper.
#pragma once

#include <string>
#include <string_view>

namespace eos {

// Writes `bytes` to PATH.tmp, fsyncs it and renames it over PATH: a reader,
// or a run killed at any moment, finds the old file or the new one, never a
// partial one. Errors name the path and the system's reason.
void write_file_atomically(const std::string& path, std::string_view bytes);

}  // namespace eos
