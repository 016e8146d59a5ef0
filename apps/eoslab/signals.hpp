// SIGINT and SIGTERM during a run: the first asks the step loop to stop
// after the step in flight (TrainerOptions::stop_requested); the run then
// writes its checkpoint and a summary.json with outcome "interrupted" and
// the command that resumes it, and eoslab exits 130 (SIGINT) or 143
// (SIGTERM). A second signal ends the process at once (the default action).
#pragma once

#include <string>

namespace eos::cli {

// Installs the handlers (idempotent); until then the default actions hold.
void install_stop_handlers();
// The signal received, or 0.
int stop_signal();
// "SIGINT", "SIGTERM".
std::string signal_name(int signal);

}  // namespace eos::cli
