/* SPDX-License-Identifier: Apache-2.0 */
#include "base/signals.h"

#include <errno.h>
#include <string.h>

volatile sig_atomic_t ferry_stopping;

static void on_stop_signal(int sig)
{
  (void)sig;
  ferry_stopping = 1;
}

int ferry_catch_stop_signals(ferry_error *err)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
    return ferry_error_set(err, errno, "sigaction");
  sa.sa_handler = SIG_IGN;
  if (sigaction(SIGPIPE, &sa, NULL) < 0)
    return ferry_error_set(err, errno, "sigaction SIGPIPE");
  return 0;
}
