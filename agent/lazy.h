/* Forwarding header while agent/daemon.c still includes "lazy.h": post-copy's
 * processes are in agent/engine/. Removed once every includer says "engine/lazy.h". */
#include "engine/lazy.h"
