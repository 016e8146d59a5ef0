#include "signals.hpp"

#include <signal.h>

#include <csignal>

namespace eos::cli {

namespace {
volatile std::sig_atomic_t g_signal = 0;

extern "C" void on_stop_signal(int s) {
  if (g_signal != 0) {  // the second: the default action, now
    ::signal(s, SIG_DFL);
    ::raise(s);
    return;
  }
  g_signal = s;
}
}  // namespace

void install_stop_handlers() {
  static bool installed = false;
  if (installed) return;
  installed = true;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

int stop_signal() { return g_signal; }

std::string signal_name(int s) {
  switch (s) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    default: return "signal " + std::to_string(s);
  }
}

}  // namespace eos::cli
