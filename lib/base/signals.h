/* SPDX-License-Identifier: Apache-2.0 */
/* How a long-running Ferry program learns it must stop: SIGTERM and SIGINT set
 * ferry_stopping (the main loop checks it between passes), SIGPIPE is ignored
 * (a peer that went away is an EPIPE on that write, not the end of the program). */
#ifndef FERRY_SIGNALS_H
#define FERRY_SIGNALS_H

#include <signal.h>

#include "base/error.h"

extern volatile sig_atomic_t ferry_stopping;

int ferry_catch_stop_signals(ferry_error *err);

#endif
